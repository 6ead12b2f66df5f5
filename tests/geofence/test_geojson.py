"""GeoJSON validation is pure: each bad input gets its own code and says where the fault is."""

from __future__ import annotations

import math
from typing import Any

import pytest
from shapely.geometry import MultiPolygon, Polygon

from core.errors import InvalidGeometry
from geofence.geojson import parse_area, swap_axes, to_geojson
from tests.support.ilc import unit

SQUARE: list[Any] = [
    [120.0750, 30.2930], [120.0751, 30.2930], [120.0751, 30.2931], [120.0750, 30.2931],
    [120.0750, 30.2930],
]  # fmt: skip
HOLE = [[120.07502, 30.29302], [120.07504, 30.29302], [120.07504, 30.29304], [120.07502, 30.29304],
        [120.07502, 30.29302]]  # fmt: skip
BOWTIE = [[120.0750, 30.2930], [120.0751, 30.2931], [120.0751, 30.2930], [120.0750, 30.2931],
          [120.0750, 30.2930]]  # fmt: skip


def polygon(*rings: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [list(ring) for ring in rings]}


@pytest.mark.parametrize(
    ("geometry", "code", "path"),
    [
        ("not an object", "invalid_geojson", "geometry"),
        ({"type": "Point", "coordinates": [120.0, 30.0]}, "unsupported_geometry", "geometry.type"),
        ({"type": "Polygon"}, "invalid_geojson", "geometry.coordinates"),
        ({"type": "Polygon", "coordinates": []}, "empty_geometry", "geometry.coordinates"),
        ({"type": "MultiPolygon", "coordinates": []}, "empty_geometry", "geometry.coordinates"),
        (polygon([]), "empty_geometry", "geometry.coordinates[0]"),
        (polygon(SQUARE[:-1]), "unclosed_ring", "geometry.coordinates[0]"),
        (polygon(SQUARE[:2] + SQUARE[:1]), "invalid_ring", "geometry.coordinates[0]"),
        (polygon([*SQUARE[:2], ["a", 1], *SQUARE[2:]]), "invalid_geojson",
         "geometry.coordinates[0][2]"),
        (polygon([*SQUARE[:2], [True, 30.0], *SQUARE[2:]]), "invalid_geojson",
         "geometry.coordinates[0][2]"),
        (polygon([*SQUARE[:2], [120.0751, math.nan], *SQUARE[2:]]), "non_finite_coordinate",
         "geometry.coordinates[0][2]"),
        (polygon([*SQUARE[:2], [math.inf, 30.0], *SQUARE[2:]]), "non_finite_coordinate",
         "geometry.coordinates[0][2]"),
        (polygon([*SQUARE[:2], [181.0, 30.0], *SQUARE[2:]]), "coordinate_out_of_range",
         "geometry.coordinates[0][2]"),
        (polygon([[x, y + 70] for x, y in SQUARE]), "coordinate_out_of_range",
         "geometry.coordinates[0][0]"),
        (polygon(BOWTIE), "invalid_geometry", "geometry"),
        ({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]}, "invalid_geometry",
         "geometry"),
    ],
)  # fmt: skip
def test_bad_geometry_names_its_code_and_path(geometry: Any, code: str, path: str) -> None:
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(geometry, max_vertices=100)
    assert caught.value.code == code
    assert caught.value.details["path"] == path


def test_self_intersection_says_where() -> None:
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(polygon(BOWTIE), max_vertices=100)
    assert caught.value.details["reason"] == "Self-intersection"
    x, y = caught.value.details["location"]
    assert x == pytest.approx(120.07505)
    assert y == pytest.approx(30.29305)
    assert "Self-intersection at 120.0750" in caught.value.message


def test_latitude_longitude_order_gets_a_hint() -> None:
    swapped = polygon([[y, x] for x, y in SQUARE])  # latitude first: 30.29, 120.07
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(swapped, max_vertices=100)
    assert caught.value.code == "coordinate_out_of_range"
    assert "[latitude, longitude]" in caught.value.message


def test_a_plan_in_metres_gets_a_hint() -> None:
    # Web Mercator metres, as the real plan's own `point` property has them.
    metres = polygon([[13366730.0 + x * 1e5, 3541383.0 + y * 1e5] for x, y in SQUARE])
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(metres, max_vertices=100)
    assert caught.value.code == "coordinate_out_of_range"
    assert "EPSG:3857" in caught.value.message


def test_too_many_vertices() -> None:
    with pytest.raises(InvalidGeometry) as caught:
        parse_area(polygon(SQUARE), max_vertices=3)
    assert caught.value.code == "too_many_vertices"
    assert caught.value.details == {"path": "geometry", "vertices": 4, "limit": 3}


def test_valid_shapes_pass_unchanged() -> None:
    with_hole = parse_area(polygon(SQUARE, HOLE), max_vertices=100)
    assert isinstance(with_hole, Polygon)
    assert len(with_hole.interiors) == 1
    far = [[x + 0.001, y] for x, y in SQUARE]
    multi = parse_area({"type": "MultiPolygon", "coordinates": [[SQUARE], [far]]}, max_vertices=9)
    assert isinstance(multi, MultiPolygon)
    assert len(multi.geoms) == 2
    assert to_geojson(with_hole) == polygon(SQUARE, HOLE)  # no rounding, no re-orientation


def test_real_unit_round_trips_exactly() -> None:
    geometry = unit("F1", "STARBUCKS COFFEE")["geometry"]
    parsed = to_geojson(parse_area(geometry, max_vertices=10_000))
    assert parsed == {"type": geometry["type"], "coordinates": geometry["coordinates"]}


def test_swap_axes_exchanges_longitude_and_latitude() -> None:
    shape = parse_area(polygon(SQUARE), max_vertices=100)
    assert to_geojson(swap_axes(shape))["coordinates"][0][1] == [30.2930, 120.0751]
