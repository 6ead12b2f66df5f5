"""Small floor plans for the presence tests, drawn in metres near (120° E, 30° N)."""

from __future__ import annotations

from shapely.geometry import Polygon, box

from geofence.index import LocalFrame

_KX, _KY = LocalFrame(120.0, 30.0).metres_per_degree


def lonlat(x: float, y: float) -> tuple[float, float]:
    return 120.0 + x / _KX, 30.0 + y / _KY


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    (lon0, lat0), (lon1, lat1) = lonlat(x0, y0), lonlat(x1, y1)
    return box(lon0, lat0, lon1, lat1)
