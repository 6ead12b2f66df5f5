"""Operators manage malls and levels; every bad input is a 4xx that says what to fix."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.db import Database
from tests.support.api import ELSEWHERE, bearer, create_mall, error_of, issue_key
from tests.support.ilc import mall_body


def test_mall_lifecycle(client: TestClient, platform: dict[str, str]) -> None:
    mall = create_mall(client, platform)
    assert mall["timezone"] == "Asia/Shanghai"
    assert mall["footprint"] == mall_body()["footprint"]  # stored exactly as sent

    assert client.get(f"/v1/malls/{mall['id']}", headers=platform).json()["name"] == mall["name"]
    assert [m["id"] for m in client.get("/v1/malls", headers=platform).json()] == [mall["id"]]

    changed = client.patch(
        f"/v1/malls/{mall['id']}", json={"name": "Renamed", "timezone": "Europe/Paris"},
        headers=platform,
    )  # fmt: skip
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["timezone"]) == ("Renamed", "Europe/Paris")

    assert client.delete(f"/v1/malls/{mall['id']}", headers=platform).status_code == 204
    error = error_of(client.get(f"/v1/malls/{mall['id']}", headers=platform), 404)
    assert error["code"] == "mall_not_found"


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"timezone": "Mars/Olympus"}, 422, "invalid_timezone"),
        ({"timezone": "asia/shanghai"}, 422, "invalid_timezone"),
        ({"footprint": {"type": "Point", "coordinates": [120.07, 30.29]}}, 422,
         "unsupported_geometry"),
        ({"footprint": {"type": "Polygon", "coordinates": [[[120.0, 30.0], [120.1, 30.1],
                                                            [120.1, 30.0], [120.0, 30.1],
                                                            [120.0, 30.0]]]}}, 422,
         "invalid_geometry"),
        ({"footprint": {"type": "Polygon", "coordinates": [[[30.29, 120.07], [30.30, 120.07],
                                                            [30.30, 120.08], [30.29, 120.07]]]}},
         422, "coordinate_out_of_range"),
        ({"name": ""}, 422, "validation_error"),
        ({"colour": "blue"}, 422, "validation_error"),
    ],
)  # fmt: skip
def test_bad_mall_is_refused_with_its_reason(
    client: TestClient, platform: dict[str, str], changes: dict[str, Any], status: int, code: str
) -> None:
    error = error_of(client.post("/v1/malls", json=mall_body() | changes, headers=platform), status)
    assert error["code"] == code
    assert client.get("/v1/malls", headers=platform).json() == []


def test_timezone_hint_names_the_right_spelling(
    client: TestClient, platform: dict[str, str]
) -> None:
    response = client.post(
        "/v1/malls", json=mall_body() | {"timezone": "asia/shanghai"}, headers=platform
    )
    assert "did you mean Asia/Shanghai" in error_of(response, 422)["message"]


def test_duplicate_mall_name_conflicts(client: TestClient, platform: dict[str, str]) -> None:
    create_mall(client, platform)
    error = error_of(client.post("/v1/malls", json=mall_body(), headers=platform), 409)
    assert error["code"] == "duplicate_name"


def test_levels(client: TestClient, platform: dict[str, str]) -> None:
    mall = create_mall(client, platform)
    base = f"/v1/malls/{mall['id']}/levels"
    for ordinal, name in [(0, "F1"), (-1, "B1"), (1, "F2")]:
        response = client.post(base, json={"ordinal": ordinal, "name": name}, headers=platform)
        assert response.status_code == 201, response.text
    assert [lv["name"] for lv in client.get(base, headers=platform).json()] == ["B1", "F1", "F2"]

    duplicate = client.post(base, json={"ordinal": 0, "name": "Ground"}, headers=platform)
    assert error_of(duplicate, 409)["code"] == "duplicate_ordinal"
    same_name = client.post(base, json={"ordinal": 5, "name": "F1"}, headers=platform)
    assert error_of(same_name, 409)["code"] == "duplicate_name"

    renamed = client.patch(f"{base}/1", json={"name": "Level 2"}, headers=platform)
    assert renamed.json() == {"id": renamed.json()["id"], "ordinal": 1, "name": "Level 2"}
    assert client.delete(f"{base}/1", headers=platform).status_code == 204
    assert error_of(client.get(f"{base}/1", headers=platform), 404)["code"] == "level_not_found"
    assert error_of(client.get(f"{base}/abc", headers=platform), 422)["code"] == "validation_error"


def test_footprint_cannot_shrink_away_from_zones(
    client: TestClient, platform: dict[str, str]
) -> None:
    from tests.support.ilc import zone_feature

    mall = create_mall(client, platform)
    client.post(f"/v1/malls/{mall['id']}/levels", json={"ordinal": 0, "name": "F1"},
                headers=platform)  # fmt: skip
    zone = client.post(
        f"/v1/malls/{mall['id']}/zones", json=zone_feature("F1", "STARBUCKS COFFEE"),
        headers=platform,
    )  # fmt: skip
    assert zone.status_code == 201, zone.text
    elsewhere = zone_feature("F1", "adidas")["geometry"]  # a footprint that misses Starbucks
    response = client.patch(
        f"/v1/malls/{mall['id']}", json={"footprint": elsewhere}, headers=platform
    )
    error = error_of(response, 422)
    assert error["code"] == "zones_outside_footprint"
    assert error["details"]["zone_ids"] == [zone.json()["id"]]


def test_scoped_operator_sees_only_its_malls(
    client: TestClient, db: Database, platform: dict[str, str]
) -> None:
    ours = create_mall(client, platform, name="Ours")
    theirs = create_mall(client, platform, name="Theirs", footprint=ELSEWHERE)
    scoped = bearer(issue_key(db, role="operator", mall_ids=[ours["id"]]))

    assert [m["id"] for m in client.get("/v1/malls", headers=scoped).json()] == [ours["id"]]
    assert client.get(f"/v1/malls/{ours['id']}", headers=scoped).status_code == 200
    for method, path in [
        ("GET", f"/v1/malls/{theirs['id']}"),
        ("PATCH", f"/v1/malls/{theirs['id']}"),
        ("GET", f"/v1/malls/{theirs['id']}/levels"),
        ("GET", f"/v1/malls/{theirs['id']}/zones"),
        ("POST", f"/v1/malls/{theirs['id']}/tenants"),
    ]:
        body = {"name": "x", "category": "x"} if method == "POST" else {}
        response = client.request(method, path, headers=scoped, json=body)
        assert error_of(response, 404)["code"] == "mall_not_found", path

    refused = client.post("/v1/malls", json=mall_body("Third"), headers=scoped)
    assert error_of(refused, 403)["code"] == "platform_operator_required"
    deleted = client.delete(f"/v1/malls/{ours['id']}", headers=scoped)
    assert error_of(deleted, 403)["code"] == "platform_operator_required"
