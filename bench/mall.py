"""The real mall of bench/presence.py and shoppers walking in it, a position each second.

Units are the zones a person is in one at a time (stores, restaurants, restrooms). A shopper
reaches a unit only through its door, where its outline meets the corridor, and stands or
browses anywhere in it at least a metre from its walls, not at its most favourable point.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from shapely import LineString, MultiPolygon, Point, Polygon
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, polylabel, unary_union

from demo.seed import floor_plans, footprint, zone_features
from geofence.index import UNIT_KINDS, ZoneIndex, ZoneShape

VISITED_KINDS = frozenset({"store", "restaurant", "restroom"})  # units shoppers walk into
SIZE_GROUPS = (("lt10", 0.0, 10.0), ("10to25", 10.0, 25.0), ("25to100", 25.0, 100.0),
               ("ge100", 100.0, math.inf))  # fmt: skip
WALK_MPS = 1.2
BROWSE_MPS = 0.4
WALL_M = 1.0  # shoppers stand at least this far from a unit's walls

XY = tuple[float, float]


@dataclass(frozen=True)
class Unit:
    zone_id: int
    level: int
    name: str
    area_m2: float
    door: XY  # on the storefront
    outside: XY  # in the corridor, in front of the door
    stand: XY  # the unit's most favourable point: furthest from its walls

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

    @property
    def levels(self) -> list[int]:
        return sorted(self.corridors)


@dataclass
class Walk:
    """A shopper's true path (a position each second, and whether they walk or stand) and the
    units they were really in."""

    level: int
    t0: float
    xy: list[XY] = field(default_factory=list)
    moving: list[bool] = field(default_factory=list)  # per second: walking, not standing
    inside: list[tuple[float, float, int]] = field(default_factory=list)  # (from, to, zone)
    stood: float | None = None  # visits: when the shopper reached where they stand

    def __post_init__(self) -> None:
        self.moving = self.moving or [False] * len(self.xy)

    def to(self, target: XY, *, speed: float = WALK_MPS) -> float:
        """Walk to `target`; returns the time of arrival."""
        x0, y0 = self.xy[-1]
        steps = max(1, math.ceil(math.dist((x0, y0), target) / speed))
        for i in range(1, steps + 1):
            self.xy.append((x0 + (target[0] - x0) * i / steps, y0 + (target[1] - y0) * i / steps))
            self.moving.append(speed >= WALK_MPS)
        return self.now

    def stay(self, seconds: float, rng: random.Random, *, wander_m: float = 0.5) -> float:
        x, y = self.xy[-1]
        for _ in range(round(seconds)):
            self.xy.append((x + rng.gauss(0, wander_m), y + rng.gauss(0, wander_m)))
            self.moving.append(False)
        self.xy.append((x, y))
        self.moving.append(False)
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
            shapes.append(
                ZoneShape(
                    zone_id, plan.ordinal, shape(feature["geometry"]), props["kind"], props["name"]
                )
            )
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
    per_ping = ZoneIndex.build(
        1,
        1,
        footprint(),
        [replace(s, occupancy="area") for s in shapes],
        floors=[p.ordinal for p in plans],
    )
    return World(index, per_ping, units, corridors, rooms, metric)


def _unit(
    zone: ZoneShape,
    polygon: Polygon | MultiPolygon,
    corridor: Polygon | MultiPolygon,
    walkable: Polygon | MultiPolygon,
) -> Unit | None:
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
    return Unit(
        zone.zone_id,
        zone.level or 0,
        zone.name,
        polygon.area,
        (door.x, door.y),
        (outside.x, outside.y),
        (stand.x, stand.y),
    )


def spot(world: World, unit: Unit, rng: random.Random, start: XY) -> list[XY]:
    """A path from `start` (in the unit, or its door) to a random point of the unit at least
    WALL_M from its walls, in straight legs that stay inside (through the unit's most
    favourable point where a straight line would cross a wall); [stand] where no such point
    is found."""
    polygon = world.metric[unit.zone_id]
    room = polygon.buffer(0.3)
    inner = polygon.buffer(-WALL_M)
    if inner.is_empty:
        return [unit.stand]
    x0, y0, x1, y1 = inner.bounds
    for _ in range(40):
        point = (rng.uniform(x0, x1), rng.uniform(y0, y1))
        if not inner.contains(Point(point)):
            continue
        if room.contains(LineString([start, point])):
            return [point]
        if room.contains(LineString([start, unit.stand])) and room.contains(
            LineString([unit.stand, point])
        ):
            return [unit.stand, point]
    return [unit.stand]


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


def visit(
    world: World,
    unit: Unit,
    rng: random.Random,
    t0: float,
    stay_s: tuple[float, float] = (60.0, 600.0),
    *,
    browse: bool | None = None,
) -> Walk:
    """From the corridor in at the door, to a random spot of the unit; there the shopper stands
    or (half of them) browses: moves slowly from spot to spot, pausing at each; out again."""
    walk = Walk(unit.level, t0, [corridor_point(world, unit.level, unit.outside, rng)])
    walk.to(unit.outside)
    arrived = walk.to(unit.door)
    for point in spot(world, unit, rng, unit.door):
        walk.stood = walk.to(point)
    until = walk.now + rng.uniform(*stay_s)
    browse = rng.random() < 0.5 if browse is None else browse
    while walk.now < until:
        if not browse:
            walk.stay(until - walk.now, rng)
            break
        walk.stay(min(until - walk.now, rng.uniform(10, 60)), rng, wander_m=0.3)
        for point in spot(world, unit, rng, walk.xy[-1]):
            walk.to(point, speed=BROWSE_MPS)
    if not _straight(world, unit, walk.xy[-1], unit.door):
        walk.to(unit.stand)
    walk.to(unit.door)
    walk.inside.append((arrived, walk.now, unit.zone_id))
    walk.to(unit.outside)
    walk.to(corridor_point(world, unit.level, unit.outside, rng))
    walk.to(corridor_point(world, unit.level, walk.xy[-1], rng, reach_m=20.0))  # well away
    return walk


def _straight(world: World, unit: Unit, a: XY, b: XY) -> bool:
    return bool(world.metric[unit.zone_id].buffer(0.3).contains(LineString([a, b])))


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
    """In at one unit's door, across it to a spot by the wall it shares with its neighbour and
    straight back out (no stop), along the storefronts to the neighbour's door, two minutes
    there. Units connect through their doors, never through a wall: the test is that the
    pass by the wall enters neither unit."""
    walk = Walk(through.level, t0, [through.outside])
    arrived = walk.to(through.door)
    polygon, other = world.metric[through.zone_id], world.metric[into.zone_id]
    inner = polygon.buffer(-WALL_M)
    wall = nearest_points(inner, other)[0] if not inner.is_empty else Point(through.stand)
    far = (wall.x, wall.y)
    if not _straight(world, through, through.door, far):
        far = through.stand
    walk.to(far)
    walk.to(through.door)
    walk.inside.append((arrived, walk.now, through.zone_id))
    walk.to(through.outside)
    walk.to(into.outside)
    entered = walk.to(into.door)
    for point in spot(world, into, rng, into.door):
        walk.to(point)
    walk.stay(120, rng)
    walk.to(into.door)
    walk.inside.append((entered, walk.now, into.zone_id))
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
            touching = [
                b
                for b in units
                if b.zone_id != a.zone_id and wall.intersects(world.metric[b.zone_id])
            ]
            if touching:
                pairs.append((a, min(touching, key=lambda b: math.dist(a.stand, b.stand))))
    return pairs
