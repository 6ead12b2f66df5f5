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
    sim = Simulation(30, start=START, seed=1, ping_every_s=5.0)
    pings: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for index, ping in sim.advance(START + 1800):
        pings[index].append(ping)
    assert len(pings) == 30
    for series in pings.values():
        times = [p["ts"] for p in series]
        assert times == sorted(times)
        assert times[-1] <= START + 1800
        gaps = np.diff(times)
        assert gaps.min() >= 5.0 - 1e-6
        assert gaps.max() <= 10.0 + 1e-6
        assert all(3 <= p["accuracy_m"] <= 9 and isinstance(p["level"], int) for p in series)


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


def test_gps_noise_matches_the_accuracy_the_ping_reports() -> None:
    sim = Simulation(40, start=START, seed=9)
    kx, ky = sim.map.frame.metres_per_degree
    errors, accuracies = [], []
    for _ in range(60):
        step = sim.now + 5
        for index, ping in sim.advance(step):
            shopper = sim.shoppers[index]
            errors.append(math.hypot((ping["lon"] - shopper.lon) * kx,
                                     (ping["lat"] - shopper.lat) * ky))  # fmt: skip
            accuracies.append(ping["accuracy_m"])
    ratio = np.array(errors) / np.array(accuracies)
    # Normal noise with sigma = accuracy / 2 per axis puts 1 - e^-2 = 86.5% of the pings
    # within the accuracy radius (a Rayleigh distribution).
    assert 0.82 < np.mean(ratio <= 1.0) < 0.91


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
