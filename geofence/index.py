"""ZoneIndex: which zones of a mall cover each of many points, in one vectorised call.

Pure and immutable: built once from a mall's zones, then shared by every request until the
zones change and a new index replaces it whole (so no request sees a half-built one).

Boundary rule: a point on a zone's boundary (an edge or a vertex) is *in* the zone, as PostGIS's
`ST_Covers(zone, point)` says; a point in a hole is not. Two stores sharing a wall both contain
a point on that wall. Matching runs on the coordinates as stored (WGS 84 degrees), so its answers
are exactly those of PostGIS; distances (exit margins, accuracy circles) use a local metric frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geofence.grid import CellGrid

# Level of a ping that did not say which floor it is on.
NO_LEVEL = -32768
# The zone id under which the mall footprint takes part in presence (zone ids start at 1).
MALL = 0

_EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class LocalFrame:
    """Equirectangular metres around a mall's centre: under 0.01 % error across a mall."""

    lon0: float
    lat0: float

    @property
    def metres_per_degree(self) -> tuple[float, float]:
        """Metres per degree of longitude and of latitude around the origin."""
        ky = math.radians(1) * _EARTH_RADIUS_M
        return ky * math.cos(math.radians(self.lat0)), ky

    @property
    def _kx(self) -> float:
        return self.metres_per_degree[0]

    @property
    def _ky(self) -> float:
        return self.metres_per_degree[1]

    def to_xy(self, lon: Any, lat: Any) -> tuple[Any, Any]:
        return (np.asarray(lon) - self.lon0) * self._kx, (np.asarray(lat) - self.lat0) * self._ky

    def geometry(self, shape: BaseGeometry) -> BaseGeometry:
        kx, ky = self._kx, self._ky
        return shapely.transform(
            shape,
            lambda c: np.column_stack(((c[:, 0] - self.lon0) * kx, (c[:, 1] - self.lat0) * ky)),
        )

    def distance_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
        return math.hypot((lon2 - lon1) * self._kx, (lat2 - lat1) * self._ky)


# Kinds of zones that are rooms: a person is in one of them at a time, and occupancy inference
# (geofence.occupancy) decides which. Every other kind is an area that overlaps freely.
UNIT_KINDS = frozenset({"store", "restaurant", "restroom", "vacant"})
# Where a shopper changes floors: a floor change begun elsewhere needs longer evidence.
CONNECTOR_KINDS = frozenset({"escalator", "elevator", "stairs", "atrium"})


def is_unit(kind: str, occupancy: str | None) -> bool:
    """The operator's "unit" or "area" when they chose, else the kind's."""
    return occupancy == "unit" if occupancy is not None else kind in UNIT_KINDS


@dataclass(frozen=True)
class ZoneShape:
    """What the index needs of a zone."""

    zone_id: int
    level: int | None  # None: the zone spans every level
    geometry: BaseGeometry  # Polygon or MultiPolygon, lon/lat
    kind: str = "store"
    name: str = ""
    dwell_s: int = 60
    tenant_id: int | None = None
    occupancy: str | None = None  # the operator's "unit" or "area"; None: by its kind

    @property
    def is_unit(self) -> bool:
        return is_unit(self.kind, self.occupancy)


@dataclass(frozen=True)
class Matches:
    """Pairs (point index, zone id), sorted by point index: a point may be in several zones."""

    point: NDArray[np.intp]
    zone: NDArray[np.int64]


@dataclass(frozen=True)
class ZoneIndex:
    mall_id: int
    version: int
    footprint: BaseGeometry
    zones: dict[int, ZoneShape]
    frame: LocalFrame
    _grids: dict[int, CellGrid | None] = field(repr=False)
    _metric: dict[int, BaseGeometry] = field(repr=False)
    _area_m2: dict[int, float] = field(repr=False)
    timezone: str = "UTC"
    floors: frozenset[int] = frozenset()  # the mall's level ordinals, zones on them or not
    _unit_trees: dict[int, tuple[shapely.STRtree, list[int]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _connectors: dict[int, BaseGeometry | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        mall_id: int,
        version: int,
        footprint: BaseGeometry,
        zones: Iterable[ZoneShape],
        timezone: str = "UTC",
        floors: Iterable[int] | None = None,
    ) -> ZoneIndex:
        zones = list(zones)
        centre = footprint.centroid
        frame = LocalFrame(centre.x, centre.y)
        shapely.prepare(footprint)
        all_levels = [z for z in zones if z.level is None]
        levels = sorted({z.level for z in zones if z.level is not None})
        grids = {NO_LEVEL: _grid(all_levels, frame)}
        for level in levels:
            grids[level] = _grid([z for z in zones if z.level == level] + all_levels, frame)
        by_id = {z.zone_id: z for z in zones}
        metric = {z.zone_id: frame.geometry(z.geometry) for z in zones}
        metric[MALL] = frame.geometry(footprint)
        for shape in metric.values():
            shapely.prepare(shape)
        return cls(
            mall_id=mall_id,
            version=version,
            footprint=footprint,
            zones=by_id,
            frame=frame,
            _grids=grids,
            _metric=metric,
            _area_m2={zone_id: shape.area for zone_id, shape in metric.items()},
            timezone=timezone,
            floors=frozenset(levels if floors is None else floors),
        )

    def has_level(self, level: int) -> bool:
        """Whether the mall has this floor; a mall that declares none takes any."""
        return not self.floors or level in self.floors

    @property
    def levels(self) -> list[int]:
        return sorted(level for level in self._grids if level != NO_LEVEL)

    def match(
        self, lon: Sequence[float] | NDArray[np.float64], lat: Any, level: Any = None
    ) -> Matches:
        """Zones covering each point: those of the point's level and those of every level.

        `level` holds an ordinal per point, NO_LEVEL for a point without one (which then only
        matches zones spanning every level); None means no point has a level.
        """
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        levels = (
            np.full(x.shape, NO_LEVEL, dtype=np.int64)
            if level is None
            else np.asarray(level, dtype=np.int64)
        )
        found_points: list[NDArray[np.intp]] = []
        found_zones: list[NDArray[np.int64]] = []
        for value in np.unique(levels).tolist():
            grid = self._grids.get(value, self._grids[NO_LEVEL])
            if grid is None:
                continue
            selected = np.flatnonzero(levels == value)
            hit_points, hit_zones = grid.match(x, y, selected)
            found_points.append(hit_points)
            found_zones.append(hit_zones)
        if not found_points:
            return Matches(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.int64))
        point_idx = np.concatenate(found_points)
        zone_ids = np.concatenate(found_zones)
        order = np.lexsort((zone_ids, point_idx))
        return Matches(point_idx[order], zone_ids[order])

    def locate(self, lon: Any, lat: Any, level: Any = None) -> list[frozenset[int]]:
        """Per point, the ids of the zones it is in, plus MALL when it is in the footprint."""
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        matches = self.match(x, y, level)
        in_mall = self.in_footprint(x, y)
        zones: list[set[int]] = [{MALL} if inside else set() for inside in in_mall.tolist()]
        for p, z in zip(matches.point.tolist(), matches.zone.tolist(), strict=True):
            zones[p].add(z)
        return [frozenset(s) for s in zones]

    def in_footprint(self, lon: Any, lat: Any) -> NDArray[np.bool_]:
        """Whether each point lies in the mall footprint (boundary included)."""
        return shapely.intersects_xy(self.footprint, np.asarray(lon), np.asarray(lat))  # type: ignore[no-any-return]

    # -- metric questions the presence tracker asks (one point, one zone) -----------------------

    def distance_m(self, zone_id: int, lon: float, lat: float) -> float:
        """Metres from the point to the zone (0 inside); infinite for an unknown zone."""
        shape = self._metric.get(zone_id)
        if shape is None:
            return math.inf
        x, y = self.frame.to_xy(lon, lat)
        return float(shapely.distance(shape, shapely.Point(float(x), float(y))))

    def circle_inside(self, zone_id: int, lon: float, lat: float, radius_m: float) -> float:
        """Share (0..1) of the accuracy circle around the point that lies inside the zone."""
        shape = self._metric.get(zone_id)
        if shape is None:
            return 0.0
        x, y = self.frame.to_xy(lon, lat)
        centre = shapely.Point(float(x), float(y))
        if radius_m <= 0:
            return 1.0 if shape.intersects(centre) else 0.0
        # Cheap exit: a circle that fits entirely inside needs no intersection.
        if shape.intersects(centre) and shapely.distance(shape.boundary, centre) >= radius_m:
            return 1.0
        circle = centre.buffer(radius_m, quad_segs=8)
        return float(shape.intersection(circle).area / circle.area)

    def depth_m(self, zone_id: int, lon: float, lat: float) -> float:
        """Signed metres from the point to the zone's outline: positive inside, negative outside
        (minus infinity for an unknown zone)."""
        shape = self._metric.get(zone_id)
        if shape is None:
            return -math.inf
        kx, ky = self.frame.metres_per_degree
        point = shapely.Point((lon - self.frame.lon0) * kx, (lat - self.frame.lat0) * ky)
        if shape.intersects(point):
            return float(shapely.distance(shape.boundary, point))
        return -float(shapely.distance(shape, point))

    def is_unit(self, zone_id: int) -> bool:
        """A room a person is in one at a time (geofence.occupancy), not an area."""
        zone = self.zones.get(zone_id)
        return zone is not None and zone.is_unit

    def units_at(self, lon: float, lat: float, level: int | None) -> frozenset[int]:
        """The units (rooms) the point lies in on its level (or spanning every level). Per
        level, a tree of its units built at first use: one point per stop, not arrays."""
        tree, ids = self._unit_tree(level)
        hits = tree.query(shapely.Point(lon, lat), predicate="intersects") if ids else []
        return frozenset(ids[i] for i in list(hits))

    def units_near(self, lon: float, lat: float, level: int | None, reach_m: float) -> set[int]:
        """The units of the point's level (or of every level) within `reach_m` of it."""
        tree, ids = self._unit_tree(level)
        if not ids:
            return set()
        kx, ky = self.frame.metres_per_degree
        box = shapely.box(
            lon - reach_m / kx, lat - reach_m / ky, lon + reach_m / kx, lat + reach_m / ky
        )
        return {ids[i] for i in list(tree.query(box, predicate="intersects"))}

    def _unit_tree(self, level: int | None) -> tuple[shapely.STRtree, list[int]]:
        key = NO_LEVEL if level is None else level
        if (found := self._unit_trees.get(key)) is None:
            units = [z for z in self.zones.values() if z.is_unit and z.level in (level, None)]
            found = (shapely.STRtree([z.geometry for z in units]), [z.zone_id for z in units])
            self._unit_trees[key] = found
        return found

    def near_connector(self, lon: float, lat: float, level: int, within_m: float) -> bool:
        """Whether the point is within `within_m` of an escalator, lift, stairs or atrium of its
        floor (the union of them, built at first use per floor)."""
        if level not in self._connectors:
            shapes = [
                self._metric[z.zone_id]
                for z in self.zones.values()
                if z.level == level and z.kind in CONNECTOR_KINDS
            ]
            union = shapely.union_all(shapes) if shapes else None
            if union is not None:
                shapely.prepare(union)
            self._connectors[level] = union
        union = self._connectors[level]
        if union is None:
            return False
        kx, ky = self.frame.metres_per_degree
        point = shapely.Point((lon - self.frame.lon0) * kx, (lat - self.frame.lat0) * ky)
        return bool(shapely.dwithin(union, point, within_m))

    def metric_shape(self, zone_id: int) -> BaseGeometry | None:
        """The zone in the mall's local frame (metres), or None for an unknown zone."""
        return self._metric.get(zone_id)

    def area_m2(self, zone_id: int) -> float:
        return self._area_m2.get(zone_id, 0.0)

    def knows(self, zone_id: int) -> bool:
        return zone_id == MALL or zone_id in self.zones

    def zone_level(self, zone_id: int) -> int | None:
        zone = self.zones.get(zone_id)
        return zone.level if zone else None

    def zone_dwell_s(self, zone_id: int) -> int:
        zone = self.zones.get(zone_id)
        return zone.dwell_s if zone else 0

    def travel_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
        return self.frame.distance_m(lon1, lat1, lon2, lat2)


def _grid(zones: Sequence[ZoneShape], frame: LocalFrame) -> CellGrid | None:
    if not zones:
        return None
    return CellGrid.build([z.zone_id for z in zones], [z.geometry for z in zones], frame.to_xy)
