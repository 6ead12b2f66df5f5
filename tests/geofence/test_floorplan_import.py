"""Importing a real floor plan the ways converters write them: null levels, the same floor twice,
a floor replaced, errors a person can find in the file."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import mapping, shape

from demo.seed import zone_features
from tests.support.api import error_of, zones_url
from tests.support.ilc import floor


def plan(floor_name: str, count: int, **properties: Any) -> dict[str, Any]:
    """Units of a floor without refs, as a converter that writes no ids would send them."""
    features = [
        {"type": "Feature", "id": f"unit-{n}", "geometry": copy.deepcopy(f["geometry"]),
         "properties": {"name": f["properties"]["name"], **properties}}
        for n, f in enumerate(zone_features(floor(floor_name), {})[:count])
    ]  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def levels_of(client: TestClient, bare_mall: dict[str, Any], headers: dict[str, str]) -> list[Any]:
    features = client.get(zones_url(bare_mall), headers=headers).json()["features"]
    return sorted(f["properties"]["level"] for f in features)


def test_a_null_level_is_the_imported_level_not_every_level(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    body = plan("F2", 4, level=None)
    answer = client.post(f"{zones_url(bare_mall)}/import?level=1", json=body, headers=platform)
    assert answer.status_code == 200, answer.text
    assert levels_of(client, bare_mall, platform) == [1, 1, 1, 1]


def test_a_feature_on_another_level_than_the_import_s_is_refused_by_name(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    body = plan("F2", 3)
    body["features"][1]["properties"]["level"] = 0
    answer = client.post(f"{zones_url(bare_mall)}/import?level=1", json=body, headers=platform)
    [error] = error_of(answer, 422)["details"]["errors"]
    assert (error["index"], error["code"], error["id"]) == (1, "level_mismatch", "unit-1")
    assert error["name"] == body["features"][1]["properties"]["name"]
    assert levels_of(client, bare_mall, platform) == []


def test_a_level_written_as_text_is_named_as_the_wrong_type_not_as_another_level(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    body = plan("F2", 2)
    body["features"][0]["properties"]["level"] = "1"
    answer = client.post(f"{zones_url(bare_mall)}/import?level=1", json=body, headers=platform)
    [error] = error_of(answer, 422)["details"]["errors"]
    assert (error["index"], error["code"]) == (0, "validation_error")
    assert error["details"] == {"field": "properties.level"}
    assert "number" in error["message"]
    assert levels_of(client, bare_mall, platform) == []


def test_the_same_floor_twice_without_refs_is_refused_not_duplicated(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    body = plan("F2", 5)
    url = f"{zones_url(bare_mall)}/import?level=1"
    assert client.post(url, json=body, headers=platform).status_code == 200
    again = client.post(url, json=body, headers=platform)
    errors = error_of(again, 422)["details"]["errors"]
    assert [e["code"] for e in errors] == ["duplicate_zone"] * 5
    dry = client.post(url + "&dry_run=true", json=body, headers=platform)
    assert error_of(dry, 422)["code"] == "import_failed"  # a dry run refuses it too
    assert len(levels_of(client, bare_mall, platform)) == 5


def test_replacing_a_floor_swaps_its_zones_in_one_go(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    url = f"{zones_url(bare_mall)}/import"
    client.post(f"{url}?level=1", json=plan("F2", 5), headers=platform)
    client.post(f"{url}?level=0", json=plan("F1", 2), headers=platform)
    replaced = client.post(f"{url}?level=1&replace=true", json=plan("F2", 3), headers=platform)
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["created"], replaced.json()["deleted"]) == (3, 5)
    assert levels_of(client, bare_mall, platform) == [0, 0, 1, 1, 1]  # the other floor is untouched
    no_level = client.post(f"{url}?replace=true", json=plan("F2", 3), headers=platform)
    assert error_of(no_level, 422)["code"] == "replace_needs_level"


def test_malls_may_touch_but_not_overlap(client: TestClient, platform: dict[str, str]) -> None:
    def square(west: float) -> dict[str, Any]:
        ring = [[west, 10.0], [west + 0.01, 10.0], [west + 0.01, 10.01], [west, 10.01],
                [west, 10.0]]  # fmt: skip
        return {"type": "Polygon", "coordinates": [ring]}

    def create(name: str, west: float) -> Any:
        body = {"name": name, "timezone": "UTC", "footprint": square(west)}
        return client.post("/v1/malls", json=body, headers=platform)

    first = create("West", 20.0)
    assert first.status_code == 201
    assert create("East", 20.01).status_code == 201  # shares an edge: fine
    error = error_of(create("Inside", 20.005), 409)
    assert (error["code"], error["details"]["mall_id"]) == ("overlapping_mall", first.json()["id"])


def raw_floor(name: str) -> dict[str, Any]:
    """A floor file of the real plan as its makers wrote it: the floor's outline first, then
    units whose `category` is a list of their own ids, and no `kind`."""
    plan: dict[str, Any] = json.loads(
        resources.files("demo").joinpath(f"ilc_site1/floors/{name}.geojson").read_text()
    )
    return plan


def test_a_plan_as_its_makers_wrote_it_imports_and_says_what_to_look_at_again(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    body = raw_floor("F2")
    url = f"{zones_url(bare_mall)}/import?level=1"
    dry = client.post(url + "&dry_run=true", json=body, headers=platform).json()
    done = client.post(url, json=body, headers=platform).json()
    assert dry["warnings"] == done["warnings"]
    # The outline says `"category": "floor"`: an area, not a store around every store.
    by_index = {w["index"]: w for w in done["warnings"]}
    assert set(by_index) == set(range(1, len(body["features"])))
    warning = by_index[1]
    assert warning["code"] == "kind_not_given"
    first = body["features"][1]
    assert (warning["id"], warning["name"]) == (first["id"], first["properties"]["name"])
    zones = client.get(zones_url(bare_mall), headers=platform).json()["features"]
    outline = next(z for z in zones if z["id"] == done["zone_ids"][0])
    assert (outline["properties"]["kind"], outline["properties"]["occupancy"]) == (
        "footprint",
        "area",
    )
    assert outline["properties"]["category"] == "floor"  # kept as sent


def test_a_category_that_names_a_kind_is_read_when_the_feature_has_no_kind(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    body = plan("F2", 4)
    categories = ["restroom.female", "Walkway", "foodservice", "fashion"]
    for feature, category in zip(body["features"], categories, strict=True):
        feature["properties"]["category"] = category
    body["features"][3]["properties"]["kind"] = "vacant"  # its own kind wins
    answer = client.post(f"{zones_url(bare_mall)}/import?level=1", json=body, headers=platform)
    assert answer.json()["warnings"] == []
    zones = {z["id"]: z["properties"] for z in
             client.get(zones_url(bare_mall), headers=platform).json()["features"]}  # fmt: skip
    kinds = [zones[zone_id]["kind"] for zone_id in answer.json()["zone_ids"]]
    assert kinds == ["restroom", "corridor", "restaurant", "vacant"]


def test_a_plan_s_own_category_ids_are_read_through_the_kinds_it_is_given(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    """The real plan's units name their category by a converter's ids, in a list: one mapping
    in the import makes its restaurants restaurants."""
    body = raw_floor("F4")  # its food floor
    restaurant = "5d35733bdb07255e495599ac"
    eateries = [i for i, f in enumerate(body["features"])
                if restaurant in (f["properties"].get("category") or [])]  # fmt: skip
    assert len(eateries) > 3
    url = f"{zones_url(bare_mall)}/import?level=1"
    done = client.post(url, json=body | {"categories": {restaurant: "restaurant"}},
                       headers=platform).json()  # fmt: skip
    warned = {w["index"] for w in done["warnings"] if w["code"] == "kind_not_given"}
    assert warned == set(range(1, len(body["features"]))) - set(eateries)
    zones = {z["id"]: z["properties"]["kind"] for z in
             client.get(zones_url(bare_mall), headers=platform).json()["features"]}  # fmt: skip
    assert {zones[done["zone_ids"][i]] for i in eateries} == {"restaurant"}

    wrong = client.post(url + "&dry_run=true", json=body | {"categories": {restaurant: "eatery"}},
                        headers=platform)  # fmt: skip
    assert error_of(wrong, 422)["details"]["fields"][0]["field"] == f"body.categories.{restaurant}"


def test_a_unit_around_units_and_a_zone_smaller_than_a_person_are_imported_with_a_warning(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    body = raw_floor("F2")
    body["features"][0]["properties"]["kind"] = "store"  # the outline, said to be a store
    for feature in body["features"][1:]:
        feature["properties"]["kind"] = "store"
    shop = shape(body["features"][5]["geometry"]).representative_point()
    body["features"].append({"type": "Feature", "geometry": mapping(shop.buffer(0.000003)),
                             "properties": {"name": "a speck", "kind": "store"}})  # fmt: skip
    answer = client.post(f"{zones_url(bare_mall)}/import?level=1", json=body, headers=platform)
    assert answer.status_code == 200, answer.text
    warnings = answer.json()["warnings"]
    assert [(w["index"], w["code"]) for w in warnings] == [
        (0, "unit_holds_units"),  # the outline holds every store (and the speck)
        (5, "unit_holds_units"),  # the store the speck lies in
        (len(body["features"]) - 1, "zone_too_small"),
    ]  # fmt: skip
    assert warnings[0]["details"]["units"] >= len(body["features"]) - 3
    assert 0 < warnings[-1]["details"]["area_m2"] < 1


def test_a_unit_around_units_is_found_across_imports(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    raw = raw_floor("F2")
    outline, *units = raw["features"]
    outline["properties"]["kind"] = "store"
    for unit in units:
        unit["properties"]["kind"] = "store"
    url = f"{zones_url(bare_mall)}/import?level=1"
    first = client.post(url, json={"type": "FeatureCollection", "features": units[:5]},
                        headers=platform).json()  # fmt: skip
    assert first["warnings"] == []
    # The outline after the stores: it holds the five stored units.
    alone = client.post(url, json={"type": "FeatureCollection", "features": [outline]},
                        headers=platform).json()  # fmt: skip
    [warning] = alone["warnings"]
    assert (warning["code"], warning["details"]) == ("unit_holds_units", {"units": 5})
    # Stores after the outline: each says it lies in it.
    later = client.post(url, json={"type": "FeatureCollection", "features": units[5:8]},
                        headers=platform).json()  # fmt: skip
    assert [(w["index"], w["details"]) for w in later["warnings"]] == [
        (i, {"inside_zone_id": alone["zone_ids"][0]}) for i in range(3)
    ]
    # Replacing the floor without the outline: nothing stored is around the new stores.
    again = client.post(url + "&replace=true", json={"type": "FeatureCollection",
                        "features": units[:8]}, headers=platform).json()  # fmt: skip
    assert (again["deleted"], again["warnings"]) == (9, [])
