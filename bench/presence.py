"""Presence under indoor positioning noise: do enter events name the store the shopper is in?

On the real mall (the ILC plan, all five floors), simulated shoppers walk from a corridor into
a unit, stand in it for 1-10 minutes and walk out (visits); walk along the corridors past the
storefronts (passers-by); or walk through one unit into its neighbour and stay there
(crossings). Every fix carries Gaussian position noise of sigma 1, 2 or 4 m, a reported accuracy
of 3-8 m, 2% outliers 10-20 m away, one fix every 2-10 s. The pings go through the presence
rule in geofence/presence.py, exactly as ingest applies it; the figures say how often its enter
events name the right unit, how soon, and how often they name another.

Units are the zones a person is in one at a time (stores, restaurants, restrooms); precision
and recall are per size group of the unit visited (< 10, 10-25, 25-100, > 100 m2). Beside
them, the enter delay of an ideal judge on the same visits (it knows when the shopper stopped,
the outliers and sigma): how much sooner any rule that waits for a stop could enter.

    .venv/bin/python bench/presence.py [--quick] [--json]

docs/benchmarks.md has the noise model, the definitions and the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from shapely import LineString, MultiPolygon, Point, Polygon
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, polylabel, unary_union

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import arguments
from demo.noise import NoiseModel
from demo.seed import floor_plans, footprint, zone_features
from geofence.index import UNIT_KINDS, ZoneIndex, ZoneShape
from geofence.presence import (
    Observation,
    PresenceRules,
    PresenceState,
    PresenceTracker,
    Transition,
)

VISITED_KINDS = frozenset({"store", "restaurant", "restroom"})  # units shoppers walk into
SIZE_GROUPS = (("lt10", 0.0, 10.0), ("10to25", 10.0, 25.0), ("25to100", 25.0, 100.0),
               ("ge100", 100.0, math.inf))  # fmt: skip
SIGMAS_M = (1.0, 2.0, 4.0)
WALK_MPS = 1.2
SLACK_S = 30.0  # an enter this close to the visit still names the right visit

XY = tuple[float, float]


@dataclass(frozen=True)
class Unit:
    zone_id: int
    level: int
    name: str
    area_m2: float
    door: XY  # on the storefront
    outside: XY  # in the corridor, in front of the door
    stand: XY  # where a shopper stands inside

    @property
    def group(self) -> str:
        return next(name for name, low, high in SIZE_GROUPS if low <= self.area_m2 < high)


@dataclass
class World:
    index: ZoneIndex  # as shipped: units by occupancy inference, areas by the per-ping rule
    per_ping: ZoneIndex  # every zone an area: the per-ping rule of before (the baseline)
    units: list[Unit]
    corridors: dict[int, Polygon | MultiPolygon]  # walkable floor, metres
    rooms: frozenset[int]  # zone ids of every room-like unit (reachable or not)
    metric: dict[int, BaseGeometry] = field(default_factory=dict)  # units walked into, metres


@dataclass
class Walk:
    """A shopper's true path (a position each second) and the units they were really in."""

    level: int
    t0: float
    xy: list[XY] = field(default_factory=list)
    inside: list[tuple[float, float, int]] = field(default_factory=list)  # (from, to, zone)
    stood: float | None = None  # visits: when the shopper reached where they stand

    def to(self, target: XY, *, speed: float = WALK_MPS) -> float:
        """Walk to `target`; returns the time of arrival."""
        x0, y0 = self.xy[-1]
        steps = max(1, math.ceil(math.dist((x0, y0), target) / speed))
        for i in range(1, steps + 1):
            self.xy.append((x0 + (target[0] - x0) * i / steps, y0 + (target[1] - y0) * i / steps))
        return self.now

    def stay(self, seconds: float, rng: random.Random, *, wander_m: float = 0.5) -> float:
        x, y = self.xy[-1]
        for _ in range(round(seconds)):
            self.xy.append((x + rng.gauss(0, wander_m), y + rng.gauss(0, wander_m)))
        self.xy.append((x, y))
        return self.now

    @property
    def now(self) -> float:
        return self.t0 + len(self.xy) - 1

    @property
    def hours(self) -> float:
        return (len(self.xy) - 1) / 3600


# -- the mall ------------------------------------------------------------------------------------


def build_world() -> World:
    plans = floor_plans()
    shapes: list[ZoneShape] = []
    kinds: dict[int, str] = {}
    for plan in plans:
        for feature in zone_features(plan, {}):
            zone_id = len(shapes) + 1
            props = feature["properties"]
            shapes.append(ZoneShape(zone_id, plan.ordinal, shape(feature["geometry"]),
                                    props["kind"], props["name"]))  # fmt: skip
            kinds[zone_id] = props["kind"]
    index = ZoneIndex.build(1, 1, footprint(), shapes, floors=[p.ordinal for p in plans])
    frame = index.frame
    units: list[Unit] = []
    corridors: dict[int, Polygon | MultiPolygon] = {}
    for plan in plans:
        on_floor = [s for s in shapes if s.level == plan.ordinal]
        metric = {s.zone_id: frame.geometry(s.geometry).buffer(0) for s in on_floor}
        corridor = (
            frame.geometry(plan.outline).buffer(0).difference(unary_union(list(metric.values())))
        )
        corridors[plan.ordinal] = corridor
        walkable = corridor.buffer(-1.0)
        for s in on_floor:
            if s.kind in VISITED_KINDS:
                unit = _unit(s, metric[s.zone_id], corridor, walkable)
                if unit is not None:
                    units.append(unit)
    rooms = frozenset(z for z, kind in kinds.items() if kind in UNIT_KINDS)
    found = {u.zone_id: index.metric_shape(u.zone_id) for u in units}
    metric = {zone_id: shape for zone_id, shape in found.items() if shape is not None}
    per_ping = ZoneIndex.build(1, 1, footprint(), [replace(s, occupancy="area") for s in shapes],
                               floors=[p.ordinal for p in plans])  # fmt: skip
    return World(index, per_ping, units, corridors, rooms, metric)


def _unit(zone: ZoneShape, polygon: Polygon | MultiPolygon, corridor: Polygon | MultiPolygon,
          walkable: Polygon | MultiPolygon) -> Unit | None:  # fmt: skip
    """The unit with a door where its outline meets the corridor; None without a storefront."""
    if isinstance(polygon, MultiPolygon):
        polygon = max(polygon.geoms, key=lambda p: p.area)
    front = polygon.exterior.intersection(corridor.buffer(0.3))
    pieces = [g for g in getattr(front, "geoms", [front]) if isinstance(g, LineString)]
    if not pieces or max(p.length for p in pieces) < 1.0:
        return None
    door = max(pieces, key=lambda p: p.length).interpolate(0.5, normalized=True)
    outside = nearest_points(walkable, door)[0]
    if outside.distance(door) > 6.0:
        return None
    stand = polylabel(polygon, tolerance=0.2)
    return Unit(zone.zone_id, zone.level or 0, zone.name, polygon.area, (door.x, door.y),
                (outside.x, outside.y), (stand.x, stand.y))  # fmt: skip


# -- walks ---------------------------------------------------------------------------------------


def corridor_point(
    world: World, level: int, origin: XY, rng: random.Random, reach_m: float = 12.0
) -> XY:
    """A point of the corridor `reach_m` from `origin`, reachable in a straight line."""
    corridor = world.corridors[level].buffer(0.2)
    for _ in range(24):
        angle = rng.uniform(0, 2 * math.pi)
        end = (origin[0] + reach_m * math.cos(angle), origin[1] + reach_m * math.sin(angle))
        if corridor.contains(LineString([origin, end])):
            return end
    return origin


def visit(world: World, unit: Unit, rng: random.Random, t0: float) -> Walk:
    walk = Walk(unit.level, t0, [corridor_point(world, unit.level, unit.outside, rng)])
    walk.to(unit.outside)
    arrived = walk.to(unit.door)
    walk.stood = walk.to(unit.stand)
    walk.stay(rng.uniform(60, 600), rng)
    walk.to(unit.door)
    walk.inside.append((arrived, walk.now, unit.zone_id))
    walk.to(unit.outside)
    walk.to(corridor_point(world, unit.level, unit.outside, rng))
    walk.to(corridor_point(world, unit.level, walk.xy[-1], rng, reach_m=20.0))  # well away
    return walk


def passer_by(world: World, start: Unit, rng: random.Random, t0: float, hops: int = 8) -> Walk:
    """Along the storefronts of one floor, from the front of one unit to the next nearest."""
    corridor = world.corridors[start.level].buffer(0.2)
    fronts = [u for u in world.units if u.level == start.level]
    walk, here, seen = Walk(start.level, t0, [start.outside]), start, {start.zone_id}
    for _ in range(hops):
        ahead = sorted(
            (u for u in fronts if u.zone_id not in seen),
            key=lambda u: math.dist(u.outside, here.outside),
        )
        reachable = (
            u for u in ahead[:6] if corridor.contains(LineString([here.outside, u.outside]))
        )
        step = next(reachable, None)
        if step is None:
            break
        walk.to(step.outside)
        here = step
        seen.add(step.zone_id)
    return walk


def window_shopper(world: World, unit: Unit, rng: random.Random, t0: float) -> Walk:
    """Up to a storefront, 1-3 minutes looking in from the corridor (a metre or so from the
    glass), on without going in."""
    walk = Walk(unit.level, t0, [corridor_point(world, unit.level, unit.outside, rng)])
    walk.to(unit.outside)
    walk.stay(rng.uniform(60, 180), rng)
    walk.to(corridor_point(world, unit.level, unit.outside, rng, reach_m=20.0))
    return walk


def crossing(world: World, through: Unit, into: Unit, rng: random.Random, t0: float) -> Walk:
    """In at one unit's door, straight across it into its neighbour, two minutes there. Where
    the straight line from the door would leave the two units, the walk bends once, at the
    middle of the wall they share."""
    walk = Walk(through.level, t0, [through.outside])
    arrived = walk.to(through.door)
    polygon = world.metric[through.zone_id]
    both = polygon.union(world.metric[into.zone_id]).buffer(0.5)
    path = [into.stand]
    if not both.contains(LineString([through.door, into.stand])):
        wall = polygon.buffer(0.5).intersection(world.metric[into.zone_id]).centroid
        path = [(wall.x, wall.y), into.stand]
    # Where the walk leaves the first unit: the length of the path inside it.
    inside_m = LineString([through.door, *path]).intersection(polygon).length
    wall_s = arrived + inside_m / WALK_MPS
    for point in path:
        walk.to(point)
    walk.inside.append((arrived, wall_s, through.zone_id))
    walk.stay(120, rng)
    walk.to(into.door)
    walk.inside.append((wall_s, walk.now, into.zone_id))
    walk.to(into.outside)
    return walk


def neighbours(world: World) -> list[tuple[Unit, Unit]]:
    """Units sharing a wall (outlines within half a metre), on the same floor."""
    pairs = []
    by_level: dict[int, list[Unit]] = {}
    for unit in world.units:
        by_level.setdefault(unit.level, []).append(unit)
    for units in by_level.values():
        for a in units:
            wall = world.metric[a.zone_id].buffer(0.5)
            touching = [b for b in units if b.zone_id != a.zone_id
                        and wall.intersects(world.metric[b.zone_id])]  # fmt: skip
            if touching:
                pairs.append((a, min(touching, key=lambda b: math.dist(a.stand, b.stand))))
    return pairs


# -- fixes and the rule under test ---------------------------------------------------------------


def fixes(world: World, walk: Walk, sigma_m: float, rng: random.Random) -> list[Observation]:
    """What the phone reports: every 2-10 s, noisy, with a claimed accuracy; 2% outliers (the
    noise model of demo/noise.py, which the demo's shoppers carry too)."""
    noise = NoiseModel(sigma_m=sigma_m)
    frame = world.index.frame
    kx, ky = frame.metres_per_degree
    picked: list[tuple[float, float, float, float]] = []
    offset = rng.uniform(0, 5)
    while offset < len(walk.xy) - 1:
        x, y = walk.xy[int(offset)]
        dx, dy = noise.offset(rng)
        picked.append((walk.t0 + offset, frame.lon0 + (x + dx) / kx, frame.lat0 + (y + dy) / ky,
                       noise.accuracy(rng)))  # fmt: skip
        offset += noise.gap(rng)
    lon = np.array([p[1] for p in picked])
    lat = np.array([p[2] for p in picked])
    where = world.index.locate(lon, lat, [walk.level] * len(picked))
    return [Observation(t, x, y, accuracy, walk.level, zones)
            for (t, x, y, accuracy), zones in zip(picked, where, strict=True)]  # fmt: skip


Rule = Callable[[Sequence[Observation]], list[Transition]]


def single_ping_rule(world: World) -> Rule:
    """The per-ping rule for every zone (what presence did before issue 13): the baseline."""
    tracker = PresenceTracker(PresenceRules(), world.per_ping)

    def run(observations: Sequence[Observation]) -> list[Transition]:
        return tracker.advance(PresenceState(), observations).events

    return run


def occupancy_rule(world: World, confidence: float | None = None) -> Rule:
    """Presence as shipped (geofence/presence.py): units by occupancy inference over a stop;
    `confidence`: MALLCAST_ENTER_CONFIDENCE, if not the default."""
    rules = PresenceRules()
    if confidence is not None:
        rules = replace(rules, occupancy=replace(rules.occupancy, enter_confidence=confidence))
    tracker = PresenceTracker(rules, world.index)

    def run(observations: Sequence[Observation]) -> list[Transition]:
        return tracker.advance(PresenceState(), observations).events

    return run


# -- the figures ---------------------------------------------------------------------------------


@dataclass
class Tally:
    enters: int = 0
    right: int = 0
    visits: int = 0
    entered: int = 0
    flapping: int = 0
    enter_delays: list[float] = field(default_factory=list)
    stop_delays: list[float] = field(default_factory=list)  # the same enters, from the stop
    exit_delays: list[float] = field(default_factory=list)


def score_visit(
    tally: Tally, walk: Walk, events: Iterable[Transition], rooms: frozenset[int]
) -> None:
    (arrived, left, zone_id) = walk.inside[0]
    enters = [e for e in events if e.kind == "enter" and e.zone_id in rooms]
    right = [
        e for e in enters if e.zone_id == zone_id and arrived - SLACK_S <= e.at <= left + SLACK_S
    ]
    tally.enters += len(enters)
    tally.right += len(right)
    tally.visits += 1
    tally.entered += bool(right)
    tally.flapping += sum(1 for e in enters if e.zone_id == zone_id) > 1
    if right:
        first = min(e.at for e in right)
        tally.enter_delays.append(max(0.0, first - arrived))
        if walk.stood is not None:
            tally.stop_delays.append(max(0.0, first - walk.stood))
        exits = [
            e.at
            for e in events
            if e.kind == "exit" and e.zone_id == zone_id and e.at >= left - SLACK_S
        ]
        if exits:
            tally.exit_delays.append(max(0.0, min(exits) - left))


def wrong_enters(walk: Walk, events: Iterable[Transition], rooms: frozenset[int]) -> int:
    """Enters of units the shopper did not stay in (a minute at least)."""
    stayed = {zone for start, end, zone in walk.inside if end - start >= 60}
    return sum(
        1 for e in events if e.kind == "enter" and e.zone_id in rooms and e.zone_id not in stayed
    )


def measure(world: World, rule: Rule, sigma_m: float, *, visits_per_unit: int,
            units: Sequence[Unit], pairs: Sequence[tuple[Unit, Unit]],
            seed: int) -> dict[str, float]:  # fmt: skip
    rng = random.Random(seed)
    groups = {name: Tally() for name, _, _ in SIZE_GROUPS}
    for unit in units:
        for _ in range(visits_per_unit):
            walk = visit(world, unit, rng, t0=1e9)
            score_visit(
                groups[unit.group], walk, rule(fixes(world, walk, sigma_m, rng)), world.rooms
            )
    wrong, hours = 0, 0.0
    for unit in units:
        walk = passer_by(world, unit, rng, t0=1e9)
        wrong += wrong_enters(walk, rule(fixes(world, walk, sigma_m, rng)), world.rooms)
        hours += walk.hours
    for through, into in pairs:
        walk = crossing(world, through, into, rng, t0=1e9)
        wrong += wrong_enters(walk, rule(fixes(world, walk, sigma_m, rng)), world.rooms)
        hours += walk.hours
    figures = _figures(groups, wrong, hours)
    # Last, so that the walks above see the same random numbers as before this figure came.
    looked_in = 0
    for unit in units:
        walk = window_shopper(world, unit, rng, t0=1e9)
        looked_in += wrong_enters(walk, rule(fixes(world, walk, sigma_m, rng)), world.rooms) > 0
    figures["window_shopper_enter_share"] = _ratio(looked_in, len(units))
    return figures


def ideal_enter(world: World, unit: Unit, walk: Walk, observations: Sequence[Observation],
                sigma_m: float, confidence: float) -> float | None:  # fmt: skip
    """When an ideal judge would enter the unit: one that knows the moment the shopper stopped,
    which fixes are outliers (10 m or more off) and the true sigma, and enters at the first fix
    after the stop at which the mean of the stop's fixes lies in the unit with probability
    `confidence`. What any rule that waits for the shopper to stop must wait for at least."""
    assert walk.stood is not None
    frame, shape = world.index.frame, world.metric[unit.zone_id]
    kx, ky = frame.metres_per_degree
    n, sx, sy = 0, 0.0, 0.0
    for obs in observations:
        if obs.ts < walk.stood:
            continue
        x, y = (obs.lon - frame.lon0) * kx, (obs.lat - frame.lat0) * ky
        if math.dist((x, y), walk.xy[int(obs.ts - walk.t0)]) >= 10.0:
            continue  # an outlier
        n, sx, sy = n + 1, sx + x, sy + y
        mean = Point(sx / n, sy / n)
        depth = shape.boundary.distance(mean) * (1 if shape.contains(mean) else -1)
        if 0.5 * (1 + math.erf(depth * math.sqrt(n) / (sigma_m * math.sqrt(2)))) >= confidence:
            return obs.ts
    return None


def measure_ideal(world: World, sigma_m: float, *, visits_per_unit: int, units: Sequence[Unit],
                  seed: int) -> dict[str, float]:  # fmt: skip
    """Enter delays of the ideal judge (`ideal_enter`) at 90% (the shipped rule's confidence)
    and 50% (a coin flip) on the same visits and fixes as `measure` with the same seed."""
    rng = random.Random(seed)
    delays: dict[str, dict[str, list[float]]] = {
        level: {name: [] for name, _, _ in SIZE_GROUPS} for level in ("90", "50")
    }
    for unit in units:
        for _ in range(visits_per_unit):
            walk = visit(world, unit, rng, t0=1e9)
            observations = fixes(world, walk, sigma_m, rng)
            for level, by_group in delays.items():
                at = ideal_enter(world, unit, walk, observations, sigma_m, int(level) / 100)
                if at is not None:
                    by_group[unit.group].append(at - walk.inside[0][0])
    out: dict[str, float] = {}
    for level, by_group in delays.items():
        pooled = [d for group in by_group.values() for d in group]
        out[f"ideal{level}_enter_delay_p50_s"] = _percentile(pooled, 50)
        out[f"ideal{level}_enter_delay_p95_s"] = _percentile(pooled, 95)
        for name, values in by_group.items():
            out[f"ideal{level}_enter_delay_p95_s_{name}"] = _percentile(values, 95)
    return out


def _figures(groups: dict[str, Tally], wrong: int, hours: float) -> dict[str, float]:
    def pooled(names: Sequence[str]) -> Tally:
        total = Tally()
        for name in names:
            g = groups[name]
            total.enters += g.enters
            total.right += g.right
            total.visits += g.visits
            total.entered += g.entered
            total.flapping += g.flapping
            total.enter_delays += g.enter_delays
            total.stop_delays += g.stop_delays
            total.exit_delays += g.exit_delays
        return total

    everything = pooled([name for name, _, _ in SIZE_GROUPS])
    large = pooled(["25to100", "ge100"])
    out = {
        "precision": _ratio(everything.right, everything.enters),
        "recall": _ratio(everything.entered, everything.visits),
        "false_enters_per_shopper_hour": round(wrong / hours, 3) if hours else 0.0,
        "flapping_share": _ratio(everything.flapping, everything.visits),
        "enter_delay_p50_s": _percentile(everything.enter_delays, 50),
        "enter_delay_p95_s": _percentile(everything.enter_delays, 95),
        "exit_delay_p95_s": _percentile(everything.exit_delays, 95),
        "recall_ge25": _ratio(*_entered(large)),
        "stop_enter_delay_p50_s": _percentile(everything.stop_delays, 50),
        "stop_enter_delay_p95_s": _percentile(everything.stop_delays, 95),
        "stop_enter_delay_p50_s_ge25": _percentile(large.stop_delays, 50),
        "stop_enter_delay_p95_s_ge25": _percentile(large.stop_delays, 95),
    }
    for name, _, _ in SIZE_GROUPS:
        g = groups[name]
        out[f"precision_{name}"] = _ratio(g.right, g.enters)
        out[f"recall_{name}"] = _ratio(g.entered, g.visits)
        out[f"visits_{name}"] = g.visits
        out[f"enter_delay_p50_s_{name}"] = _percentile(g.enter_delays, 50)
        out[f"enter_delay_p95_s_{name}"] = _percentile(g.enter_delays, 95)
        out[f"stop_enter_delay_p95_s_{name}"] = _percentile(g.stop_delays, 95)
    return out


def _entered(tally: Tally) -> tuple[int, int]:
    return tally.entered, tally.visits


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else float("nan")


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--confidence", type=float, default=None,
                        help="the shipped rule at this MALLCAST_ENTER_CONFIDENCE "
                        "(default: as shipped, 0.9)")  # fmt: skip


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], _options)
    began = time.perf_counter()
    world = build_world()
    rng = random.Random(7)
    units = world.units if not args.quick else rng.sample(world.units, min(90, len(world.units)))
    pairs = neighbours(world)
    pairs = pairs if not args.quick else rng.sample(pairs, min(40, len(pairs)))
    visits_per_unit = 1 if args.quick else 3
    figures: dict[str, object] = {
        "quick": args.quick,
        "units": len(units),
        "unit_pairs": len(pairs),
        "visits_per_unit": visits_per_unit,
        "enter_confidence": args.confidence or PresenceRules().occupancy.enter_confidence,
    }
    rows: list[tuple[str, dict[str, float]]] = []
    ideals: list[tuple[float, dict[str, float]]] = []
    for sigma in SIGMAS_M:
        suffix = f"_s{sigma:g}"
        shipped = occupancy_rule(world, args.confidence)
        for prefix, rule in (("", shipped), ("baseline_", single_ping_rule(world))):
            # The same seed: both rules see the same walks and the same fixes.
            result = measure(world, rule, sigma, visits_per_unit=visits_per_unit, units=units,
                             pairs=pairs, seed=int(sigma * 100))  # fmt: skip
            rows.append((f"{'per-ping' if prefix else 'shipped'} {sigma:g} m", result))
            for key, value in result.items():
                figures[f"{prefix}{key}{suffix}"] = value
        ideal = measure_ideal(world, sigma, visits_per_unit=visits_per_unit, units=units,
                              seed=int(sigma * 100))  # fmt: skip
        ideals.append((sigma, ideal))
        figures.update({f"{key}{suffix}": value for key, value in ideal.items()})
    _print(rows, world, units, pairs, visits_per_unit)
    _print_ideal(ideals)
    figures["seconds"] = round(time.perf_counter() - began, 1)
    if args.json:  # NaN (a size group with no visit) as null: JSON has no NaN
        clean = {
            k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()
        }
        print(json.dumps(clean, sort_keys=True))


def _print(rows: list[tuple[str, dict[str, float]]], world: World, units: Sequence[Unit],
           pairs: Sequence[tuple[Unit, Unit]], visits_per_unit: int) -> None:  # fmt: skip
    print(
        f"ILC site 1: {len(world.units)} units with a storefront ({len(units)} walked into, "
        f"{visits_per_unit} visit(s) each), {len(pairs)} crossings, passers-by on every floor"
    )
    print("presence as shipped (occupancy for units) beside the per-ping rule, per sigma:")
    keys = ("precision", "recall", "recall_ge25", "recall_10to25", "recall_lt10",
            "false_enters_per_shopper_hour", "window_shopper_enter_share", "flapping_share",
            "enter_delay_p50_s", "enter_delay_p95_s", "stop_enter_delay_p50_s",
            "stop_enter_delay_p95_s", "stop_enter_delay_p50_s_ge25", "stop_enter_delay_p95_s_ge25",
            "exit_delay_p95_s")  # fmt: skip
    print("  " + "figure".ljust(32) + "".join(label.rjust(13) for label, _ in rows))
    for key in keys:
        print("  " + key.ljust(32) + "".join(f"{figures[key]:>13}" for _, figures in rows))
    for figure in ("precision", "enter_delay_p50_s", "enter_delay_p95_s", "stop_enter_delay_p95_s"):
        print("  " + f"{figure} by unit size".ljust(32))
        for name, _, _ in SIZE_GROUPS:
            values = "".join(f"{figures[f'{figure}_{name}']:>13}" for _, figures in rows)
            print(f"    {name} m2 ({rows[0][1][f'visits_{name}']:.0f} visits)".ljust(34) + values)


def _print_ideal(ideals: list[tuple[float, dict[str, float]]]) -> None:
    print("enter delay of an ideal judge (knows the stop, the outliers and sigma), same visits:")
    print("  " + "figure".ljust(32) + "".join(f"{f'{s:g} m, 90%':>13}{f'{s:g} m, 50%':>13}"
                                              for s, _ in ideals))  # fmt: skip
    for key in ("enter_delay_p50_s", "enter_delay_p95_s",
                *(f"enter_delay_p95_s_{name}" for name, _, _ in SIZE_GROUPS)):  # fmt: skip
        values = "".join(f"{f[f'ideal{level}_{key}']:>13}" for _, f in ideals
                         for level in ("90", "50"))  # fmt: skip
        print("  " + key.ljust(32) + values)


if __name__ == "__main__":
    main()
