"""The shopper simulator (a library the demo, the load generator and the benchmarks share)."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from shapely.geometry import Point, shape

from demo.seed import floor_plans
from demo.simulator import Simulation, mall_map

START = 1_790_000_000.0  # any instant: the simulator takes time as a parameter


def trace(sim: Simulation, seconds: float, step: float = 5.0) -> list[list[dict[str, Any]]]:
    """Every shopper's true state after each step: where they are and what they do."""
    states = []
    for k in range(1, int(seconds / step) + 1):
        for _ in sim.advance(START + k * step):
            pass
        states.append([
            {"lon": s.lon, "lat": s.lat, "level": s.level, "done": s.done, "speed": s.speed_mps,
             "staying": s.staying_until is not None,
             "store": s.legs[0].store if s.legs and s.staying_until is not None else None}
            for s in sim.shoppers
        ])  # fmt: skip
    return states


@pytest.fixture(scope="module")
def walk() -> tuple[Simulation, list[list[dict[str, Any]]]]:
    sim = Simulation(12, start=START, seed=3)
    return sim, trace(sim, 3 * 3600)


def test_pings_come_in_time_order_every_few_seconds() -> None:
    sim = Simulation(30, start=START, seed=1)
    pings: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for index, ping in sim.advance(START + 1800):
        pings[index].append(ping)
    assert len(pings) == 30
    gaps = []
    for series in pings.values():
        times = [p["ts"] for p in series]
        assert times == sorted(times)
        assert times[-1] <= START + 1800
        gaps += np.diff(times).tolist()
        assert all(3 <= p["accuracy_m"] <= 8 and isinstance(p["level"], int) for p in series)
    # A fix every 2-10 s (the noise model's), on the simulation's one-second ticks.
    assert min(gaps) >= 2.0 - 1e-6
    assert max(gaps) <= 11.0 + 1e-6
    assert 5.5 < float(np.mean(gaps)) < 7.5


def test_walks_at_walking_speed_and_along_corridors(walk: Any) -> None:
    sim, states = walk
    frame = sim.map.frame
    off_corridor = walked = 0
    for before, after in itertools.pairwise(states):
        for a, b in zip(before, after, strict=True):
            if a["done"] or a["level"] != b["level"]:
                continue
            metres = frame.distance_m(a["lon"], a["lat"], b["lon"], b["lat"])
            assert metres <= b["speed"] * 5.0 + 1e-6  # 0.9-1.6 m/s, never a jump
            if metres > 0 and not b["staying"]:
                walked += 1
                floor = sim.map.floors[b["level"]]
                x, y = frame.to_xy(b["lon"], b["lat"])
                gap = np.hypot(floor.xy[:, 0] - x, floor.xy[:, 1] - y).min()
                off_corridor += gap > 8.0
    assert walked > 500
    assert off_corridor / walked < 0.05  # the surveyed walks are where people walk


def test_shoppers_browse_inside_the_stores_they_visit(walk: Any) -> None:
    _, states = walk
    units: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for plan in floor_plans():
        for unit in plan.units:
            units[(plan.ordinal, unit["properties"].get("name"))].append(shape(unit["geometry"]))
    visits = set()
    for step in states:
        for i, s in enumerate(step):
            if s["store"] is not None:
                here = Point(s["lon"], s["lat"])
                assert any(unit.covers(here) for unit in units[(s["level"], s["store"])])
                visits.add((i, s["store"]))
    assert len(visits) >= 12 * 2  # each shopper sees a few stores


def test_floors_change_at_the_atria(walk: Any) -> None:
    sim, states = walk
    frame = sim.map.frame
    changes = 0
    for before, after in itertools.pairwise(states):
        for a, b in zip(before, after, strict=True):
            if a["level"] == b["level"]:
                continue
            changes += 1
            nearest = min(frame.distance_m(a["lon"], a["lat"], lon, lat)
                          for lon, lat in sim.map.atria[a["level"]])  # fmt: skip
            assert nearest < 1.0
    assert changes > 0


def test_fixes_carry_the_noise_model_of_the_presence_benchmark() -> None:
    sim = Simulation(40, start=START, seed=9)
    kx, ky = sim.map.frame.metres_per_degree
    errors, floors_off = [], 0
    by_shopper: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for _ in range(400):
        for index, ping in sim.advance(sim.now + 1):
            shopper = sim.shoppers[index]
            dx, dy = (ping["lon"] - shopper.lon) * kx, (ping["lat"] - shopper.lat) * ky
            errors.append(math.hypot(dx, dy))
            by_shopper[index].append((dx, dy))
            floors_off += ping["level"] != shopper.level
    errors_m = np.array(errors)
    assert len(errors_m) > 2000
    # σ = 2 m per axis (the model's _ou30): a 2-D Gaussian's median error is 2.35 m; outlier
    # episodes (0.5 a minute, 2-8 s, 10-20 m) put a few percent of fixes 10 m or more away.
    assert 2.0 < float(np.median(errors_m)) < 2.8
    assert 0.01 < float(np.mean(errors_m >= 10)) < 0.08
    # The error lasts: a fix repeats much of the one before (white noise would not).
    pairs = [(a[0], b[0]) for fixes in by_shopper.values() for a, b in itertools.pairwise(fixes)]
    assert float(np.corrcoef(np.array(pairs).T)[0, 1]) > 0.4
    # Runs on the wrong floor, about 0.5 a minute of some seconds each: a few percent of fixes.
    assert 0.01 < floors_off / len(errors) < 0.15


def test_a_seed_replays_the_same_walks() -> None:
    first = list(Simulation(5, start=START, seed=4).advance(START + 600))
    again = list(Simulation(5, start=START, seed=4).advance(START + 600))
    other = list(Simulation(5, start=START, seed=5).advance(START + 600))
    assert first == again
    assert first != other


def test_returning_shoppers_keep_the_mall_busy() -> None:
    once = Simulation(6, start=START, seed=2)
    endless = Simulation(6, start=START, seed=2, returning=True)
    seen: dict[int, list[float]] = defaultdict(list)
    for index, ping in endless.advance(START + 8 * 3600):
        seen[index].append(ping["ts"])
    list(once.advance(START + 8 * 3600))
    assert once.active == 0  # everyone went home
    assert endless.active == 6
    comebacks = sum(bool(np.any(np.diff(times) >= 600)) for times in seen.values())
    assert comebacks >= 3  # a gap of ten minutes or more: gone, then back for another visit


def test_the_map_is_the_real_mall() -> None:
    mall = mall_map()
    assert sorted(mall.floors) == [-1, 0, 1, 2, 3]
    assert sum(len(f.lonlat) for f in mall.floors.values()) == 3971
    assert sum(s.featured for s in mall.stores) >= 10
