"""Simulated shoppers walking the real demo mall: routes along its corridors into its stores.

Corridors come from the surveyors' real walk positions (ILC `waypoints.csv`): per floor, the
positions are the nodes of a graph, joined along each surveyed walk and to neighbours within a
few metres; shoppers follow shortest paths on it. A shopper's visit is a list of stores (the
demo tenants' first, then any store), on one or more floors; floors change at an atrium (where
the escalators are), walking speed is 0.9-1.6 m/s, each store is browsed for a few minutes, and
every fix carries the indoor positioning noise of demo/noise.py (a model bench/presence.py
measures presence under, `_ou30`): σ = 2 m that lasts (an offset per shopper, an error that
persists about 30 s while they stand), outlier episodes, runs of fixes on the wrong floor, a
reported accuracy of 3-8 m, a fix every 2-10 s. Pure: no I/O, time is a parameter.
"""

from __future__ import annotations

import csv
import heapq
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from shapely.geometry import shape
from shapely.ops import polylabel

from demo.noise import NoiseModel, Track
from demo.seed import TENANTS, floor_plans, unit_kind
from geofence.index import LocalFrame

_LINK_M = 6.0  # waypoints this close are connected: they lie on the same corridor


@dataclass(frozen=True)
class Store:
    name: str
    level: int
    lon: float
    lat: float
    featured: bool  # one of the demo tenants


@dataclass
class FloorGraph:
    level: int
    xy: np.ndarray  # metres in the mall frame, one row per node
    lonlat: np.ndarray
    edges: dict[int, list[tuple[int, float]]]

    def nearest(self, x: float, y: float) -> int:
        return int(np.argmin((self.xy[:, 0] - x) ** 2 + (self.xy[:, 1] - y) ** 2))

    def path(self, start: int, goal: int) -> list[int]:
        """Dijkstra over the corridor graph; a straight line when the graph is split."""
        distances = {start: 0.0}
        previous: dict[int, int] = {}
        queue = [(0.0, start)]
        while queue:
            distance, node = heapq.heappop(queue)
            if node == goal:
                break
            if distance > distances.get(node, math.inf):
                continue
            for neighbour, length in self.edges.get(node, []):
                candidate = distance + length
                if candidate < distances.get(neighbour, math.inf):
                    distances[neighbour] = candidate
                    previous[neighbour] = node
                    heapq.heappush(queue, (candidate, neighbour))
        if goal not in distances:
            return [start, goal]
        nodes = [goal]
        while nodes[-1] != start:
            nodes.append(previous[nodes[-1]])
        return nodes[::-1]


@dataclass(frozen=True)
class MallMap:
    frame: LocalFrame
    floors: dict[int, FloorGraph]
    stores: list[Store]
    atria: dict[int, list[tuple[float, float]]]  # level -> lon/lat of atrium points


@cache
def mall_map() -> MallMap:
    from demo.seed import footprint

    centre = footprint().centroid
    frame = LocalFrame(centre.x, centre.y)
    text = resources.files("demo").joinpath("ilc_site1", "waypoints.csv").read_text()
    by_level: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    for row in csv.DictReader(text.splitlines()):
        by_level[int(row["level"])].append((row["trace"], float(row["lon"]), float(row["lat"])))
    floors = {}
    for level, rows in by_level.items():
        lonlat = np.array([(lon, lat) for _, lon, lat in rows])
        x, y = frame.to_xy(lonlat[:, 0], lonlat[:, 1])
        xy = np.column_stack((x, y))
        edges: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for i in range(len(rows)):
            d = np.hypot(xy[:, 0] - xy[i, 0], xy[:, 1] - xy[i, 1])
            near = np.flatnonzero((d < _LINK_M) & (d > 0))
            if i + 1 < len(rows) and rows[i + 1][0] == rows[i][0]:  # along a surveyed walk
                near = np.append(near, i + 1)
            for j in set(near.tolist()):
                edges[i].append((j, float(d[j])))
                edges[j].append((i, float(d[j])))
        floors[level] = FloorGraph(level, xy, lonlat, dict(edges))
    featured = {t.unit_name for t in TENANTS}
    stores, atria = [], defaultdict(list)
    for plan in floor_plans():
        for unit in plan.units:
            name = unit["properties"].get("name", "")
            kind = unit_kind(unit["properties"])
            area = shape(unit["geometry"])
            # Shoppers browse where the store is deepest, not on its threshold.
            point = (
                polylabel(area, tolerance=1e-7)
                if area.geom_type == "Polygon"
                else (area.representative_point())
            )
            if kind in ("store", "restaurant"):
                stores.append(Store(name, plan.ordinal, point.x, point.y, name in featured))
            elif kind == "atrium":
                atria[plan.ordinal].append((point.x, point.y))
    # The escalators run through the atria; a floor that has no atrium units of its own (the
    # lowest floors, under the voids) has the escalators' feet where the floor above has them.
    for level in floors:
        if level not in atria:
            above = min((o for o in atria if o > level), default=None)
            if above is not None:
                atria[level] = atria[above]
    return MallMap(frame, floors, stores, dict(atria))


@dataclass
class Leg:
    """Walk to a point of a floor, then stay there a while."""

    level: int
    targets: list[tuple[float, float]]  # lon/lat points to walk through
    stay_s: float = 0.0
    store: str | None = None
    routed: bool = False


@dataclass
class SimShopper:
    index: int
    speed_mps: float
    lon: float
    lat: float
    level: int
    legs: list[Leg]
    next_ping_at: float
    arrival: float
    staying_until: float | None = None
    done: bool = False
    log: list[str] = field(default_factory=list)
    track: Track | None = None  # the errors of this shopper's phone


class Simulation:
    """Shoppers arriving through the mall's entrances at random, walking, browsing, leaving."""

    def __init__(
        self,
        shoppers: int,
        *,
        start: float,
        seed: int = 7,
        ping_every_s: float = 6.0,
        returning: bool = False,
        noise: NoiseModel | None = None,
    ) -> None:
        self.map = mall_map()
        self.rng = np.random.default_rng(seed)
        self.noise_rng = random.Random(seed)  # noqa: S311  # a simulation, not secrets
        # Fixes every 0.33-1.67 times `ping_every_s`: 2-10 s for the default 6 s.
        self.noise = (noise or NoiseModel.correlated()).every(ping_every_s)
        self.returning = returning  # a shopper who left comes back later: an endless crowd
        self.now = start
        self.shoppers = [
            self._new_shopper(i, start + float(self.rng.uniform(0, 60))) for i in range(shoppers)
        ]

    def _new_shopper(self, index: int, arrival: float) -> SimShopper:
        rng = self.rng
        level = 0 if 0 in self.map.floors else min(self.map.floors)
        floor = self.map.floors[level]
        start = floor.lonlat[int(rng.integers(len(floor.lonlat)))]
        featured = [s for s in self.map.stores if s.featured]
        others = [s for s in self.map.stores if not s.featured]
        picks = [featured[int(i)] for i in rng.choice(len(featured), 2, replace=False)]
        picks += [
            others[int(i)] for i in rng.choice(len(others), int(rng.integers(1, 3)), replace=False)
        ]
        rng.shuffle(picks)
        legs, current = [], level
        for store in picks:
            if (
                store.level != current
                and self.map.atria.get(current)
                and self.map.atria.get(store.level)
            ):
                up = self.map.atria[current][int(rng.integers(len(self.map.atria[current])))]
                legs.append(Leg(current, [up], stay_s=float(rng.uniform(20, 40))))  # escalator
                current = store.level
            legs.append(
                Leg(
                    store.level,
                    [(store.lon, store.lat)],
                    stay_s=float(rng.uniform(120, 480)),
                    store=store.name,
                )
            )
            current = store.level
        return SimShopper(
            index,
            float(rng.uniform(0.9, 1.6)),
            float(start[0]),
            float(start[1]),
            level,
            legs,
            arrival,
            arrival,
        )

    def advance(self, until: float) -> Iterator[tuple[int, dict[str, Any]]]:
        """Move everyone to `until` (Unix seconds), yielding (shopper index, ping) in time order."""
        while self.now < until:
            step = min(1.0, until - self.now)  # everyone moves every second, pings when due
            self.now += step
            for index, shopper in enumerate(self.shoppers):
                if shopper.done and self.returning:
                    shopper = self.shoppers[index] = self._new_shopper(
                        index, self.now + float(self.rng.uniform(600, 3600))
                    )
                if shopper.done or shopper.arrival > self.now:
                    continue
                self._move(shopper, step)
                if shopper.next_ping_at <= self.now:
                    shopper.next_ping_at = self.now + self.noise.gap(self.noise_rng)
                    yield shopper.index, self._ping(shopper)

    def _move(self, shopper: SimShopper, seconds: float) -> None:
        if shopper.staying_until is not None:
            if self.now < shopper.staying_until:
                return
            shopper.staying_until = None
            shopper.legs.pop(0)
        if not shopper.legs:
            shopper.done = True
            return
        leg = shopper.legs[0]
        if leg.level != shopper.level:  # the escalator: arrive on the next floor
            shopper.level = leg.level
        if not leg.routed:
            self._route(shopper, leg)
        frame = self.map.frame
        budget = shopper.speed_mps * seconds
        while budget > 0 and leg.targets:
            lon, lat = leg.targets[0]
            distance = frame.distance_m(shopper.lon, shopper.lat, lon, lat)
            if distance <= budget:
                shopper.lon, shopper.lat = lon, lat
                budget -= distance
                leg.targets.pop(0)
            else:
                share = budget / distance
                shopper.lon += (lon - shopper.lon) * share
                shopper.lat += (lat - shopper.lat) * share
                budget = 0
        if not leg.targets:
            shopper.staying_until = self.now + leg.stay_s

    def _route(self, shopper: SimShopper, leg: Leg) -> None:
        """Replace a straight target by the corridor path to it."""
        leg.routed = True
        floor = self.map.floors.get(shopper.level)
        if floor is None:
            return
        frame = self.map.frame
        x, y = frame.to_xy(shopper.lon, shopper.lat)
        goal_x, goal_y = frame.to_xy(*leg.targets[-1])
        start = floor.nearest(float(x), float(y))
        nodes = floor.path(start, floor.nearest(float(goal_x), float(goal_y)))
        corridor = [(float(floor.lonlat[n][0]), float(floor.lonlat[n][1])) for n in nodes]
        leg.targets = corridor + leg.targets

    def _ping(self, shopper: SimShopper) -> dict[str, Any]:
        kx, ky = self.map.frame.metres_per_degree
        if shopper.track is None:
            shopper.track = self.noise.track(self.noise_rng)
        moving = shopper.staying_until is None and bool(shopper.legs)
        dx, dy, off = shopper.track.error(self.now, moving)
        # A fix on the wrong floor: one the mall has (past its top or bottom, the other way).
        level = shopper.level + off
        if level not in self.map.floors:
            level = shopper.level - off if shopper.level - off in self.map.floors else shopper.level
        return {
            "ts": round(self.now, 3),
            "lon": shopper.lon + dx / kx,
            "lat": shopper.lat + dy / ky,
            "accuracy_m": round(self.noise.accuracy(self.noise_rng), 1),
            "level": level,
        }

    @property
    def active(self) -> int:
        return sum(not s.done for s in self.shoppers)
