"""GeoJSON areas in, Shapely geometries out, with errors that say what to fix and where.

Pure: no database, no HTTP. Every check raises `InvalidGeometry` with a specific `code` and a
`details` dict naming the JSON path (and, for invalid shapes, the coordinate) of the problem.
Rings are kept exactly as sent (no re-orientation, no rounding) so that export returns them.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from core.errors import InvalidGeometry
from core.numbers import finite_float, is_number

AREA_TYPES = ("Polygon", "MultiPolygon")
Area: TypeAlias = Polygon | MultiPolygon


def parse_area(geometry: Any, *, max_vertices: int, path: str = "geometry") -> Area:
    """Validate a GeoJSON Polygon or MultiPolygon and return it as a Shapely geometry."""
    if not isinstance(geometry, dict):
        raise _error("invalid_geojson", f"{path} must be a GeoJSON geometry object", path)
    kind = geometry.get("type")
    if kind not in AREA_TYPES:
        raise _error(
            "unsupported_geometry",
            f"{path}.type is {kind!r}; zones and footprints must be Polygon or MultiPolygon",
            f"{path}.type",
        )
    coordinates = geometry.get("coordinates")
    if coordinates is None:
        raise _error("invalid_geojson", f"{path}.coordinates is missing", f"{path}.coordinates")
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(polygons, list):
        raise _error("invalid_geojson", f"{path}.coordinates must be an array", path)
    if not polygons or (kind == "Polygon" and not coordinates):
        raise _error("empty_geometry", f"{path} has no coordinates", f"{path}.coordinates")

    shells: list[tuple[list[tuple[float, float]], list[list[tuple[float, float]]]]] = []
    vertices = 0
    for p, rings in enumerate(polygons):
        prefix = f"{path}.coordinates" + ("" if kind == "Polygon" else f"[{p}]")
        if not isinstance(rings, list) or not rings:
            raise _error("empty_geometry", f"{prefix} has no rings", prefix)
        parsed = [_parse_ring(ring, f"{prefix}[{r}]") for r, ring in enumerate(rings)]
        vertices += sum(len(ring) - 1 for ring in parsed)
        shells.append((parsed[0], parsed[1:]))
    if vertices > max_vertices:
        raise _error(
            "too_many_vertices",
            f"{path} has {vertices} vertices; at most {max_vertices} are allowed "
            "(simplify the outline)",
            path,
            vertices=vertices,
            limit=max_vertices,
        )

    shape: Area
    if kind == "Polygon":
        shape = Polygon(shells[0][0], shells[0][1])
    else:
        shape = MultiPolygon([Polygon(shell, holes) for shell, holes in shells])
    if not shape.is_valid:
        reason, location = explain(shape)
        raise _error(
            "invalid_geometry",
            f"{path} is not a valid {kind}: {reason}"
            + (f" at {location[0]}, {location[1]}" if location else ""),
            path,
            reason=reason,
            location=location,
        )
    return shape


def _parse_ring(ring: Any, path: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list):
        raise _error("invalid_geojson", f"{path} must be an array of positions", path)
    if not ring:
        raise _error("empty_geometry", f"{path} is an empty ring", path)
    points = [_parse_position(position, f"{path}[{i}]") for i, position in enumerate(ring)]
    if points[0] != points[-1]:
        raise _error(
            "unclosed_ring",
            f"{path} is not closed: its last position must repeat its first "
            f"({points[0][0]}, {points[0][1]})",
            path,
            first=list(points[0]),
            last=list(points[-1]),
        )
    if len(points) < 4:
        raise _error(
            "invalid_ring",
            f"{path} has {len(points)} positions; a closed ring needs at least 4",
            path,
        )
    return points


def _parse_position(position: Any, path: str) -> tuple[float, float]:
    if (
        not isinstance(position, list | tuple)
        or len(position) < 2
        or not all(is_number(v) for v in position)
    ):
        raise _error("invalid_geojson", f"{path} must be [longitude, latitude] numbers", path)
    if len(position) > 2:
        # Kept would mean a third column nobody reads; dropped, the export would differ from
        # what was sent. Floors are levels here, not altitudes.
        raise _error(
            "altitude_not_supported",
            f"{path} has {len(position)} values: send [longitude, latitude] only (the floor "
            "is the feature's level, not an altitude)",
            path,
        )
    lon, lat = finite_float(position[0]), finite_float(position[1])
    if lon is None or lat is None:
        raise _error(
            "non_finite_coordinate", f"{path} holds NaN, an infinite or a too large number", path
        )
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        hint = ""
        if -90 <= lon <= 90 and -180 <= lat <= 180:
            hint = "; it looks like [latitude, longitude]: GeoJSON wants [longitude, latitude]"
        elif max(abs(lon), abs(lat)) > 1000:
            hint = (
                "; it looks like metres of a projected system (Web Mercator, EPSG:3857, or "
                "a local grid): GeoJSON wants WGS 84 degrees, so reproject the plan first"
            )
        raise _error(
            "coordinate_out_of_range",
            f"{path} = [{lon}, {lat}] is outside longitude -180..180, latitude -90..90{hint}",
            path,
            position=[lon, lat],
        )
    return lon, lat


def explain(shape: BaseGeometry) -> tuple[str, list[float] | None]:
    """GEOS's reason for invalidity, split into words and the coordinate it names."""
    text = shapely.is_valid_reason(shape)
    match = re.match(r"^(?P<reason>[^\[]+)\[(?P<x>[-\d.eE+]+) (?P<y>[-\d.eE+]+)\]", text)
    if not match:
        return text, None
    return match["reason"].strip(), [float(match["x"]), float(match["y"])]


def swap_axes(shape: Area) -> Area:
    """The same shape with longitude and latitude exchanged (to recognise a swapped input)."""
    return shapely.transform(shape, lambda xy: xy[:, ::-1])


def to_geojson(shape: BaseGeometry) -> dict[str, Any]:
    """GeoJSON geometry with full float precision (PostGIS's ST_AsGeoJSON rounds to 9 digits)."""
    raw = mapping(shape)
    return {"type": raw["type"], "coordinates": _lists(raw["coordinates"])}


def _lists(value: Any) -> Any:
    if isinstance(value, tuple | list):
        if value and isinstance(value[0], float | int):
            return list(value)
        return [_lists(item) for item in value]
    return value


def metres_to_degrees(metres: float) -> float:
    """A distance as degrees of latitude (about 111.32 km each): the conservative axis."""
    return metres / 111_320.0


def _error(code: str, message: str, path: str, **details: Any) -> InvalidGeometry:
    return InvalidGeometry(message, code=code, details={"path": path, **details})
