"""Zones as GeoJSON: one at a time, whole floor plans at once, and back out exactly."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from demo.seed import zone_features
from geofence.floorplan import GeometryLimits
from geofence.geojson import swap_axes, to_geojson
from geofence.index import UNIT_KINDS
from tests.support.api import ELSEWHERE, create_mall, error_of, zones_url
from tests.support.ilc import floor, mall_body, unit, zone_feature


def test_zone_lifecycle(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    tenant = client.post(
        f"/v1/malls/{bare_mall['id']}/tenants",
        json={"name": "STARBUCKS COFFEE", "category": "cafe"},
        headers=platform,
    )
    feature = zone_feature("F1", "STARBUCKS COFFEE", tenant=tenant.json()["id"], dwell_seconds=90,
                           ref="F1-starbucks", brand_colour="#00704A")  # fmt: skip
    created = client.post(zones_url(bare_mall), json=feature, headers=platform)
    assert created.status_code == 201, created.text
    zone = created.json()
    assert zone["geometry"]["coordinates"] == feature["geometry"]["coordinates"]
    assert zone["properties"] == {
        "name": "STARBUCKS COFFEE", "kind": "store", "level": 0, "tenant": tenant.json()["id"],
        "dwell_seconds": 90, "ref": "F1-starbucks", "brand_colour": "#00704A",
        "occupancy": "unit", "occupancy_set": False,  # a store is a unit, by its kind
    }  # fmt: skip

    url = f"{zones_url(bare_mall)}/{zone['id']}"
    assert client.get(url, headers=platform).json() == zone
    # Another zone created with the same ref is refused: it does not overwrite this one.
    other = zone_feature("F1", "adidas", ref="F1-starbucks")
    taken = error_of(client.post(zones_url(bare_mall), json=other, headers=platform), 409)
    assert (taken["code"], taken["details"]["zone_id"]) == ("duplicate_ref", zone["id"])
    assert client.get(url, headers=platform).json() == zone
    patched = client.patch(url, json={"properties": {"kind": "restaurant", "level": None}},
                           headers=platform)  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"]["kind"] == "restaurant"
    assert patched.json()["properties"]["level"] is None
    assert patched.json()["properties"]["brand_colour"] == "#00704A"  # untouched properties stay
    assert patched.json()["geometry"] == zone["geometry"]

    # The operator says how presence treats it; a later change of kind keeps that choice.
    area = client.patch(url, json={"properties": {"occupancy": "area"}}, headers=platform)
    assert area.json()["properties"].items() >= {("occupancy", "area"), ("occupancy_set", True)}
    kind = client.patch(url, json={"properties": {"kind": "store"}}, headers=platform)
    assert kind.json()["properties"]["occupancy"] == "area"
    back = client.patch(url, json={"properties": {"occupancy": None}}, headers=platform)
    assert back.json()["properties"].items() >= {("occupancy", "unit"), ("occupancy_set", False)}
    wrong = client.patch(url, json={"properties": {"occupancy": "room"}}, headers=platform)
    assert error_of(wrong, 422)["code"] == "validation_error"

    assert client.delete(url, headers=platform).status_code == 204
    assert error_of(client.get(url, headers=platform), 404)["code"] == "zone_not_found"


def test_zone_changes_bump_the_mall_version(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    def version() -> int:
        return int(
            client.get(f"/v1/malls/{bare_mall['id']}", headers=platform).json()["zones_version"]
        )

    before = version()
    zone = client.post(zones_url(bare_mall), json=zone_feature("F1", "adidas"), headers=platform)
    after_create = version()
    client.patch(f"{zones_url(bare_mall)}/{zone.json()['id']}", json={"properties": {"name": "A"}},
                 headers=platform)  # fmt: skip
    after_patch = version()
    client.delete(f"{zones_url(bare_mall)}/{zone.json()['id']}", headers=platform)
    assert before < after_create < after_patch < version()


@pytest.mark.parametrize(
    ("feature", "status", "code"),
    [
        (zone_feature("F1", "adidas", level=7), 422, "unknown_level"),
        (zone_feature("F1", "adidas", tenant=424242), 422, "unknown_tenant"),
        (zone_feature("F1", "adidas", kind="spaceport"), 422, "validation_error"),
        (zone_feature("F1", "adidas", dwell_seconds=-5), 422, "validation_error"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[120.0761, 30.293],
          [120.0762, 30.2931], [120.0762, 30.293], [120.0761, 30.2931], [120.0761, 30.293]]]},
          "properties": {"name": "bowtie"}}, 422, "invalid_geometry"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[121.0, 31.0],
          [121.001, 31.0], [121.001, 31.001], [121.0, 31.0]]]}, "properties": {"name": "far"}},
         422, "zone_outside_footprint"),
        ({"type": "Feature",
          "geometry": to_geojson(swap_axes(shape(unit("F1", "adidas")["geometry"]))),
          "properties": {"name": "swapped"}}, 422, "coordinate_out_of_range"),
    ],
)  # fmt: skip
def test_bad_zone_is_refused_with_its_reason(
    client: TestClient,
    platform: dict[str, str],
    bare_mall: dict[str, Any],
    feature: dict[str, Any],
    status: int,
    code: str,
) -> None:
    error = error_of(client.post(zones_url(bare_mall), json=feature, headers=platform), status)
    assert error["code"] == code, error
    assert client.get(zones_url(bare_mall), headers=platform).json()["features"] == []


def test_latitude_longitude_order_is_recognised_inside_the_valid_range(
    client: TestClient, platform: dict[str, str]
) -> None:
    # A bare_mall near (10, 20): its swapped twin (20, 10) is a valid position, yet clearly swapped.
    square = [[10.0, 20.0], [10.01, 20.0], [10.01, 20.01], [10.0, 20.01], [10.0, 20.0]]
    body = {"name": "Near the equator", "timezone": "Africa/Lagos",
            "footprint": {"type": "Polygon", "coordinates": [square]}}  # fmt: skip
    bare_mall = client.post("/v1/malls", json=body, headers=platform).json()
    swapped = [[y, x] for x, y in [[10.001, 20.001], [10.002, 20.001], [10.002, 20.002],
                                   [10.001, 20.002], [10.001, 20.001]]]  # fmt: skip
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [swapped]},
               "properties": {"name": "swapped", "level": None}}  # fmt: skip
    response = client.post(zones_url(bare_mall), json=feature, headers=platform)
    assert error_of(response, 422)["code"] == "latitude_longitude_order"


def test_import_real_floor_and_export_it_back_exactly(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    features = zone_features(floor("F1"), tenant_ids={})
    response = client.post(f"{zones_url(bare_mall)}/import", json={"type": "FeatureCollection",
                           "features": features}, headers=platform)  # fmt: skip
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["updated"]) == (len(features), 0) == (172, 0)

    exported = client.get(zones_url(bare_mall), params={"level": 0}, headers=platform).json()
    by_ref = {f["properties"]["ref"]: f for f in exported["features"]}
    assert len(by_ref) == 172
    for sent in features:
        back = by_ref[sent["properties"]["ref"]]
        assert back["geometry"]["coordinates"] == sent["geometry"]["coordinates"]  # bit-exact
        occupancy = "unit" if sent["properties"]["kind"] in UNIT_KINDS else "area"
        assert back["properties"] == sent["properties"] | {
            "tenant": None, "occupancy": occupancy, "occupancy_set": False,
        }  # fmt: skip

    again = client.post(f"{zones_url(bare_mall)}/import", json={"type": "FeatureCollection",
                        "features": features}, headers=platform)  # fmt: skip
    assert (again.json()["created"], again.json()["updated"]) == (0, 172)  # upsert by ref


def test_export_filters_by_level_and_kind(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    for plan in (floor("F1"), floor("F2")):
        client.post(
            f"{zones_url(bare_mall)}/import",
            headers=platform,
            json={"type": "FeatureCollection", "features": zone_features(plan, {})},
        )
    whole = zone_feature("F1", "adidas", level=None, kind="entrance", name="Everywhere")
    client.post(zones_url(bare_mall), json=whole, headers=platform)

    def names(**params: Any) -> list[str]:
        response = client.get(zones_url(bare_mall), params=params, headers=platform)
        assert response.status_code == 200, response.text
        return [f["properties"]["name"] for f in response.json()["features"]]

    assert len(names()) == 172 + 138 + 1
    assert len(names(level=1)) == 138
    assert names(level="all") == ["Everywhere"]
    restaurants = names(level=0, kind="restaurant")
    assert "STARBUCKS COFFEE" in restaurants
    assert "adidas" not in restaurants
    both = names(level=0, kind=["restaurant", "store"])
    assert len(both) > len(restaurants)
    assert error_of(client.get(zones_url(bare_mall), params={"level": "x"}, headers=platform),
                    422)["code"] == "validation_error"  # fmt: skip
    assert error_of(client.get(zones_url(bare_mall), params={"level": 9}, headers=platform),
                    404)["code"] == "level_not_found"  # fmt: skip


def test_import_is_all_or_nothing_and_lists_every_bad_feature(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    features = zone_features(floor("F1"), tenant_ids={})[:5]
    features[1]["geometry"]["coordinates"][0].pop()  # unclosed ring
    features[3]["properties"]["level"] = 42
    features.append(dict(features[0]))  # the same ref twice
    response = client.post(
        f"{zones_url(bare_mall)}/import",
        headers=platform,
        json={"type": "FeatureCollection", "features": features},
    )
    error = error_of(response, 422)
    assert error["code"] == "import_failed"
    assert [(e["index"], e["code"]) for e in error["details"]["errors"]] == [
        (1, "unclosed_ring"), (3, "unknown_level"), (5, "duplicate_ref"),
    ]  # fmt: skip
    assert error["details"]["errors"][0]["details"]["path"] == "geometry.coordinates[0]"
    assert client.get(zones_url(bare_mall), headers=platform).json()["features"] == []


def test_import_default_level_and_dry_run(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    features = [
        {"type": "Feature", "geometry": f["geometry"],
         "properties": {"name": f["properties"]["name"], "kind": "store"}}
        for f in zone_features(floor("F2"), {})[:10]
    ]  # fmt: skip
    url = f"{zones_url(bare_mall)}/import"
    body = {"type": "FeatureCollection", "features": features}
    dry = client.post(url, params={"level": 1, "dry_run": True}, json=body, headers=platform)
    assert dry.json() == {"created": 10, "updated": 0, "deleted": 0, "zone_ids": [],
                          "dry_run": True, "warnings": [], "levels_created": [],
                          "left_out": {}}  # fmt: skip
    assert client.get(zones_url(bare_mall), headers=platform).json()["features"] == []

    real = client.post(url, params={"level": 1}, json=body, headers=platform)
    assert len(real.json()["zone_ids"]) == 10
    levels = {f["properties"]["level"] for f in client.get(zones_url(bare_mall), headers=platform)
              .json()["features"]}  # fmt: skip
    assert levels == {1}
    unknown = client.post(url, params={"level": 5}, json=body, headers=platform)
    assert error_of(unknown, 404)["code"] == "unknown_level"


def test_import_limits(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    url = f"{zones_url(bare_mall)}/import"
    empty = client.post(url, json={"type": "FeatureCollection", "features": []}, headers=platform)
    assert error_of(empty, 422)["code"] == "empty_import"
    many = zone_features(floor("B1"), {}) * 8  # 5,688 features: over the default 5,000
    assert len(many) > GeometryLimits().max_import_features
    response = client.post(url, json={"type": "FeatureCollection", "features": many},
                           headers=platform)  # fmt: skip
    assert error_of(response, 413)["code"] == "too_many_features"


def test_zones_of_another_mall_are_not_found(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    other = create_mall(client, platform, name="Other", footprint=ELSEWHERE)
    zone = client.post(zones_url(bare_mall), json=zone_feature("F1", "adidas"), headers=platform)
    response = client.get(f"{zones_url(other)}/{zone.json()['id']}", headers=platform)
    assert error_of(response, 404)["code"] == "zone_not_found"
    assert mall_body()["name"] == bare_mall["name"]
    huge = client.get(f"{zones_url(bare_mall)}/99999999999999999999", headers=platform)
    assert error_of(huge, 422)["code"] == "validation_error"


def test_tenant_of_another_mall_cannot_own_a_zone(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    other = create_mall(client, platform, name="Other", footprint=ELSEWHERE)
    foreign = client.post(f"/v1/malls/{other['id']}/tenants", headers=platform,
                          json={"name": "adidas", "category": "sportswear"})  # fmt: skip
    feature = zone_feature("F1", "adidas", tenant=foreign.json()["id"])
    response = client.post(zones_url(bare_mall), json=feature, headers=platform)
    assert error_of(response, 422)["code"] == "unknown_tenant"
