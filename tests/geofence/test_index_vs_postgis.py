"""Differential test: ZoneIndex answers exactly what PostGIS's ST_Covers answers.

Boundary rule under test: a point on an edge or a vertex is in the zone; a point in a hole is
not. The zones are the real mall's 1,286 units plus a zone with a hole and an all-level
multipolygon; the points are random, on vertices and edges, in holes, in every multipolygon part,
and the surveyors' real walk positions.
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import text

from core.db import Database
from core.scope import MallScope
from demo.seed import seed_demo
from geofence.cache import ZoneIndexCache
from geofence.floorplan import GeometryLimits
from geofence.geojson import to_geojson
from geofence.index import NO_LEVEL
from geofence.zones import import_zones, list_zones


def _special_zones(atrium: Polygon, stores: list[Polygon]) -> list[dict[str, object]]:
    """An atrium ring (a zone with a hole) and a multipolygon of two stores on every level."""
    hole = shapely.buffer(atrium.centroid, 0.00003)  # ~3 m radius hole in the middle
    ring = atrium.difference(hole)
    assert isinstance(ring, Polygon)
    assert len(ring.interiors) == 1
    both = MultiPolygon([stores[0], stores[1]])
    return [
        {"type": "Feature", "geometry": to_geojson(ring),
         "properties": {"name": "Atrium ring", "kind": "atrium", "level": 1, "ref": "ring"}},
        {"type": "Feature", "geometry": to_geojson(both),
         "properties": {"name": "Starbucks, any floor", "kind": "store", "level": None,
                        "ref": "multi"}},
    ]  # fmt: skip


@pytest.mark.slow  # real time or a process of its own
def test_zone_index_matches_postgis_st_covers(db: Database) -> None:
    scope = MallScope.everything()
    with db.sessions() as session:
        mall = seed_demo(session)
        views = list_zones(session, scope, mall.id)
        atrium = max((v.shape for v in views if v.zone.kind == "atrium" and
                      isinstance(v.shape, Polygon)), key=lambda s: s.area)  # fmt: skip
        starbucks = [v.shape for v in views if v.zone.name == "STARBUCKS COFFEE"][:2]
        import_zones(session, scope, mall.id, _special_zones(atrium, starbucks), GeometryLimits(),
                     default_level=None)  # fmt: skip
        session.commit()
        index = ZoneIndexCache().index(session, mall.id)
        assert index is not None
        views = list_zones(session, scope, mall.id)

    rng = np.random.default_rng(20261124)
    levels = [-1, 0, 1, 2, 3, NO_LEVEL]
    lon: list[float] = []
    lat: list[float] = []
    level: list[int] = []

    def add(x: float, y: float, lv: int) -> None:
        lon.append(x)
        lat.append(y)
        level.append(lv)

    minx, miny, maxx, maxy = index.footprint.bounds
    for _ in range(6000):  # anywhere around the mall, on any floor or none
        add(rng.uniform(minx - 1e-4, maxx + 1e-4), rng.uniform(miny - 1e-4, maxy + 1e-4),
            int(rng.choice(levels)))  # fmt: skip
    for view in views:
        zone_level = index.zones[view.zone.id].level
        lv = NO_LEVEL if zone_level is None else zone_level
        coords = shapely.get_coordinates(view.shape.boundary)
        first, second = coords[0], coords[1]
        for t in (0.0, 0.5, 0.25):  # a vertex, and points on an edge
            x, y = first + (second - first) * t
            add(float(x), float(y), lv)
        for part in getattr(view.shape, "geoms", [view.shape]):
            point = part.representative_point()  # every part of a multipolygon
            add(point.x, point.y, lv)
            for interior in part.interiors:  # inside each hole, and on its edge
                hole = Polygon(interior)
                inside_hole = hole.representative_point()
                add(inside_hole.x, inside_hole.y, lv)
                x, y = interior.coords[0]
                add(x, y, lv)
    walks = resources.files("demo").joinpath("ilc_site1", "waypoints.csv").read_text()
    for row in csv.DictReader(walks.splitlines()):  # where people really walked
        add(float(row["lon"]), float(row["lat"]), int(row["level"]))
    assert len(lon) >= 10_000

    matches = index.match(np.array(lon), np.array(lat), np.array(level))
    ours = set(zip(matches.point.tolist(), matches.zone.tolist(), strict=True))

    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.i, z.id FROM unnest(:lons, :lats, :levels) "
                "WITH ORDINALITY AS p(lon, lat, level, i) "
                "JOIN zones z ON z.mall_id = :mall "
                "AND ST_Covers(z.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)) "
                "LEFT JOIN levels l ON l.id = z.level_id "
                "WHERE z.level_id IS NULL OR l.ordinal = p.level"
            ),
            {
                "lons": lon,
                "lats": lat,
                "mall": mall.id,
                "levels": [None if lv == NO_LEVEL else lv for lv in level],
            },
        ).all()
    theirs = {(int(i) - 1, int(zone_id)) for i, zone_id in rows}

    assert len(theirs) > 5000  # a meaningful comparison, not two empty sets
    assert ours - theirs == set()
    assert theirs - ours == set()
    # The special cases really occurred.
    ring_id = next(v.zone.id for v in views if v.zone.ref == "ring")
    multi_id = next(v.zone.id for v in views if v.zone.ref == "multi")
    assert any(z == ring_id for _, z in ours)
    assert sum(z == multi_id for _, z in ours) >= 2
