"""Reading an IMDF archive (geofence.imdf, pure): which features become which zones."""

from __future__ import annotations

from typing import Any

import pytest

from geofence.imdf import ImdfError, read_plan, unpack
from tests.support.imdf import archive, collection, feature

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [0.0001, 0], [0.0001, 0.0001], [0, 0]]]}


def level(ident: str, ordinal: Any, **names: Any) -> dict[str, Any]:
    return feature("level", ident, SQUARE, ordinal=ordinal, **names)


def unit(ident: str, category: str, level_id: str = "L0", **properties: Any) -> dict[str, Any]:
    return feature("unit", ident, SQUARE, category=category, level_id=level_id, **properties)


def plan(**files: Any) -> Any:
    levels = [level("L0", 0, name={"en": "Ground"}), level("L1", 1, name={"en": "First"})]
    return read_plan({"level.geojson": collection(levels), **files})


def zone(found: Any, ref: str) -> dict[str, Any]:
    return next(f["properties"] for f in found.features if f["properties"]["ref"] == ref)


def test_a_room_is_a_store_with_an_occupant_and_vacant_without() -> None:
    found = plan(
        **{
            "unit.geojson": collection([unit("U1", "room"), unit("U2", "room"),
                                        unit("U3", "room"), unit("U4", "foodservice")]),
            "anchor.geojson": collection([feature("anchor", "A1", None, unit_id="U1"),
                                          feature("anchor", "A3", None, unit_id="U3")]),
            "occupant.geojson": collection([
                feature("occupant", "O1", None, name={"en": "Books"}, category="bookstore",
                        anchor_id="A1"),
                feature("occupant", "O3", None, name={"en": "Noodles"}, category="restaurant",
                        anchor_id="A3"),
            ]),
        }
    )  # fmt: skip
    assert (zone(found, "U1")["name"], zone(found, "U1")["kind"]) == ("Books", "store")
    assert zone(found, "U2")["kind"] == "vacant"
    assert (zone(found, "U3")["kind"], zone(found, "U3")["occupant_category"]) == (
        "restaurant", "restaurant")  # fmt: skip
    assert zone(found, "U4")["kind"] == "restaurant"


def test_walls_and_voids_are_left_out_and_counted() -> None:
    found = plan(**{"unit.geojson": collection([
        unit("W", "wood"), unit("V", "opentobelow"), unit("C", "column"), unit("P", "walkway"),
        unit("R", "restroom.female.wheelchair"), unit("X", "laboratory"),
    ])})  # fmt: skip
    assert [f["properties"]["ref"] for f in found.features] == ["P", "R", "X"]
    assert (zone(found, "P")["kind"], zone(found, "R")["kind"]) == ("corridor", "restroom")
    assert zone(found, "X")["kind"] == "other"  # kept, as an area, with its IMDF category
    assert zone(found, "X")["imdf_category"] == "laboratory"
    assert found.left_out == {"unit wood": 1, "unit opentobelow": 1, "unit column": 1}


def test_levels_of_one_ordinal_in_two_buildings_are_one_level() -> None:
    found = read_plan({
        "level.geojson": collection([
            level("N0", 0, short_name={"en": "G"}, name={"en": "Ground"}),
            level("S0", 0, short_name={"en": "G south"}),
            level("B", -1, name={"zh-Hans": "地下一层"}),
        ]),
        "unit.geojson": collection([unit("U1", "walkway", "N0"), unit("U2", "walkway", "S0")]),
    })  # fmt: skip
    assert [(lv.ordinal, lv.name) for lv in found.levels] == [(-1, "地下一层"), (0, "G")]
    assert {f["properties"]["level"] for f in found.features} == {0}


def test_names_are_read_in_the_archive_s_language() -> None:
    names = {"en": "Food Court", "zh-Hans": "美食广场", "fr": "Aire de restauration"}
    units = collection([unit("U", "walkway", name=names)])
    levels = collection([level("L0", 0)])
    for language, expected in (("zh-Hans", "美食广场"), ("fr-CA", "Aire de restauration"),
                               ("de", "Food Court"), (None, "Food Court")):  # fmt: skip
        found = read_plan({"manifest.json": {"language": language}, "level.geojson": levels,
                           "unit.geojson": units})  # fmt: skip
        assert found.features[0]["properties"]["name"] == expected, language


def test_kiosks_are_units_and_sections_areas() -> None:
    found = plan(**{
        "kiosk.geojson": collection([feature("kiosk", "K", SQUARE, name={"en": "Phone cases"},
                                             level_id="L1")]),
        "section.geojson": collection([
            feature("section", "S1", SQUARE, category="eatingdrinking", name={"en": "Food hall"},
                    level_id="L1"),
            feature("section", "S2", SQUARE, category="retail", name=None, level_id="L1"),
        ]),
    })  # fmt: skip
    assert zone(found, "K").items() >= {("kind", "store"), ("occupancy", "unit"),
                                        ("level", 1), ("name", "Phone cases")}  # fmt: skip
    assert zone(found, "S1").items() >= {("kind", "food_court"), ("occupancy", "area")}
    # A retail section spans shops: an area, though its category reads as a store.
    assert zone(found, "S2").items() >= {("kind", "store"), ("occupancy", "area")}


@pytest.mark.parametrize(
    ("files", "path"),
    [
        ({"level.geojson": collection([level("L", 0.5)])}, "level.geojson.features[0]"),
        ({"level.geojson": collection([level("L", 300)])}, "level.geojson.features[0]"),
        ({"level.geojson": collection([level("L", True)])}, "level.geojson.features[0]"),
        ({"level.geojson": {"type": "Feature"}}, "level.geojson"),
        ({"level.geojson": collection([{"type": "Feature", "properties": {"ordinal": 0}}])},
         "level.geojson.features[0]"),
        ({"unit.geojson": collection([unit("U", "room")])}, "level.geojson"),
    ],
)  # fmt: skip
def test_what_cannot_be_read_says_where(files: dict[str, Any], path: str) -> None:
    with pytest.raises(ImdfError) as refused:
        read_plan(files)
    assert refused.value.path == path


def test_unpacking_reads_the_files_it_needs_from_any_folder_once() -> None:
    files = {"level.geojson": collection([level("L0", 0)]), "footprint.geojson": collection([])}
    unpacked = unpack(archive(files, folder="venue/imdf/"), max_bytes=10_000)
    assert unpacked.files == {"level.geojson": files["level.geojson"]}
    assert unpacked.unread == ["footprint.geojson"]
    assert read_plan(unpacked.files, unpacked.unread).left_out == {"file footprint.geojson": 1}
    with pytest.raises(ImdfError, match="more than 100 bytes"):
        unpack(archive(files), max_bytes=100)
    with pytest.raises(ImdfError, match="not a zip"):
        unpack(b"level.geojson", max_bytes=100)
    damaged = bytearray(archive({"level.geojson": collection([level("L0", 0)] * 50)}))
    middle = len(damaged) // 3
    damaged[middle : middle + 20] = bytes(b ^ 0xFF for b in damaged[middle : middle + 20])
    with pytest.raises(ImdfError, match="cannot be unpacked"):
        unpack(bytes(damaged), max_bytes=10**6)
