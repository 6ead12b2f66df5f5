"""What an outside fuzzing pass sent: each gets a 4xx that names the field, and nothing is stored.

Never a 500 (our crash) nor a 503 (which has clients retry and monitoring page someone).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError

from api.errors import install_error_handlers
from core.db import Database
from geofence.models import Ping, Zone
from tests.support.api import error_of, ping, register, starbucks, stay, zones_url
from tests.support.ilc import zone_feature

HUGE = 10**400  # a JSON integer no float can hold


def rows(db: Database, model: Any) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("field", "code"),
    [("lon", "non_finite_number"), ("lat", "non_finite_number"),
     ("accuracy_m", "non_finite_number"), ("speed_mps", "non_finite_number"),
     ("ts", "invalid_timestamp")],
)  # fmt: skip
def test_a_number_too_large_for_a_float_rejects_that_ping(
    client: TestClient, db: Database, mall_id: int, field: str, code: str
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    bad = ping(time.time() - 5, lon, lat) | {field: HUGE}
    answer = client.post("/v1/pings", headers=headers, json={"pings": [bad]})
    assert answer.status_code == 200, answer.text
    rejection = answer.json()["rejections"][0]
    assert rejection["code"] == code
    assert field in rejection["message"]
    assert rows(db, Ping) == 0


def test_a_number_too_large_in_a_zone_names_the_coordinate(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    feature = zone_feature("F1", "adidas")
    feature["geometry"]["coordinates"][0][2][0] = HUGE
    error = error_of(client.post(zones_url(bare_mall), json=feature, headers=platform), 422)
    assert error["code"] == "non_finite_coordinate"
    assert error["details"]["path"] == "geometry.coordinates[0][2]"


def test_an_altitude_is_refused_rather_than_silently_dropped(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    feature = zone_feature("F1", "adidas")
    feature["geometry"]["coordinates"][0] = [
        [*p, 12.5] for p in feature["geometry"]["coordinates"][0]
    ]
    error = error_of(client.post(zones_url(bare_mall), json=feature, headers=platform), 422)
    assert error["code"] == "altitude_not_supported"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "android", "app_version": "1.0\u0000"}, "body.app_version"),
        ({"platform": "android", "interests": ["tea", "co\u0000ffee"]}, "body.interests.1"),
    ],
)
def test_a_nul_character_is_422_naming_the_field_without_credentials(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    error = error_of(client.post("/v1/devices", json=body), 422)
    assert (error["code"], error["details"]["field"]) == ("nul_character", field)


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_an_import_with_a_nul_is_refused_dry_or_not(
    client: TestClient,
    platform: dict[str, str],
    bare_mall: dict[str, Any],
    dry_run: str,
    db: Database,
) -> None:
    feature = zone_feature("F1", "adidas", name="adi\u0000das")
    answer = client.post(
        f"{zones_url(bare_mall)}/import?level=0&dry_run={dry_run}", headers=platform,
        json={"type": "FeatureCollection", "features": [feature]},
    )  # fmt: skip
    error = error_of(answer, 422)
    assert error["details"]["field"] == "body.features.0.properties.name"
    assert rows(db, Zone) == 0


def test_a_nul_in_a_mall_name_is_422(client: TestClient, platform: dict[str, str]) -> None:
    from tests.support.ilc import mall_body

    error = error_of(client.post("/v1/malls", json=mall_body("X\u0000"), headers=platform), 422)
    assert error["details"]["field"] == "body.name"


def test_a_level_beyond_any_integer_column_is_422(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    answer = client.get(f"{zones_url(bare_mall)}?level=99999999999999999999", headers=platform)
    assert error_of(answer, 422)["code"] == "validation_error"


def test_what_the_database_cannot_store_is_a_client_error(database: Database) -> None:
    # The last line of defence, with a real DataError from PostgreSQL's driver.
    from fastapi import FastAPI

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/nul")
    def nul() -> None:
        with database.sessions() as session:
            session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})

    @app.get("/range")
    def out_of_range() -> None:
        with database.sessions() as session:
            session.execute(text("SELECT CAST(:v AS integer)"), {"v": 99999999999})

    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/nul", "/range"):
            assert error_of(client.get(path), 422)["code"] == "unstorable_value"
    with database.sessions() as session, pytest.raises(DataError):
        session.execute(text("SELECT CAST(:v AS integer)"), {"v": 99999999999})


def test_two_requests_changing_the_same_row_at_once_are_a_conflict_not_an_outage(
    database: Database,
) -> None:
    # The line of defence behind the row locks (core.db.lock_row), for a path that lacks one:
    # real errors from PostgreSQL and SQLAlchemy, each made by a second transaction that
    # changed the row after this one read it.
    from fastapi import FastAPI

    from core.devices.models import Device

    app = FastAPI()
    install_error_handlers(app)

    def new_device() -> Any:
        with database.sessions() as session:
            device = Device(platform="android")
            session.add(device)
            session.commit()
            return device.id

    def meanwhile(statement: str, device_id: Any) -> None:
        with database.sessions() as other:
            other.execute(text(statement), {"id": device_id})
            other.commit()

    @app.get("/serialization")
    def serialization() -> None:
        device_id = new_device()
        with database.sessions() as session:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            session.execute(text("SELECT locale FROM devices WHERE id = :id"), {"id": device_id})
            meanwhile("UPDATE devices SET locale = 'en' WHERE id = :id", device_id)
            session.execute(text("UPDATE devices SET locale = 'de' WHERE id = :id"),
                            {"id": device_id})  # fmt: skip

    @app.get("/stale")
    def stale() -> None:
        device_id = new_device()
        with database.sessions() as session:
            device = session.get(Device, device_id)
            assert device is not None
            meanwhile("DELETE FROM devices WHERE id = :id", device_id)
            device.locale = "de"
            session.flush()

    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/serialization", "/stale"):
            answer = client.get(path)
            assert answer.status_code == 409, (path, answer.text)
            assert answer.json()["error"]["code"] == "concurrent_change"


def test_a_large_body_without_credentials_is_refused_unread(client: TestClient) -> None:
    body = b'{"pings": [' + b"1," * 400_000 + b"1]}"  # 800 KB, over the ping limit too
    answer = client.post("/v1/pings", content=body, headers={"Content-Type": "application/json"})
    assert error_of(answer, 401)["code"] == "missing_credentials"
    _, headers = register(client, location=True)
    answer = client.post("/v1/pings", content=body, headers=headers)
    assert error_of(answer, 413)["details"]["limit_bytes"] == 512 * 1024
    big_device = b'{"platform": "android", "app_version": "' + b"x" * 100_000 + b'"}'
    assert error_of(client.post("/v1/devices", content=big_device), 413)


def test_405_says_what_is_allowed(client: TestClient) -> None:
    answer = client.put("/v1/pings")
    error_of(answer, 405)
    assert answer.headers["Allow"] == "POST"


@pytest.mark.parametrize("field", ["title", "targets", "priority", "schedule", "body"])
def test_tenant_patch_with_an_explicit_null_names_the_field(
    client: TestClient, db: Database, field: str
) -> None:
    starbucks_key = _tenant(client, db)
    created = client.post("/v1/tenant/promotions", headers=starbucks_key, json={
        "title": "T", "body": "B", "category": "cafe", "targets": {"mall": True}})  # fmt: skip
    assert created.status_code == 201, created.text
    answer = client.patch(
        f"/v1/tenant/promotions/{created.json()['id']}", headers=starbucks_key, json={field: None}
    )
    error = error_of(answer, 422)
    assert field in error["message"]


def _tenant(client: TestClient, db: Database) -> dict[str, str]:
    from core.tenants.models import Tenant
    from demo.seed import seed_demo
    from tests.support.api import bearer, issue_key

    with db.sessions() as session:
        seed_demo(session)
        session.commit()
        tenant_id = session.scalars(select(Tenant.id).order_by(Tenant.id)).first()
    return bearer(issue_key(db, role="tenant", tenant_id=tenant_id))


def test_a_ping_on_a_level_the_mall_does_not_have_is_rejected(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    now = time.time()
    pings = [ping(now - 40, lon, lat, level=199), *stay(lon, lat, now - 36, level=0)]
    answer = client.post("/v1/pings", headers=headers, json={"pings": pings}).json()
    assert [(r["index"], r["code"]) for r in answer["rejections"]] == [(0, "unknown_level")]
    assert answer["accepted"] == len(pings) - 1
    assert {e["level"] for e in answer["events"] if e["subject"] == "zone"} == {0}
    assert rows(db, Ping) == len(pings) - 1


def test_rules_may_open_only_this_mall_s_zones_to_tenants(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    zone = client.post(zones_url(bare_mall), json=zone_feature("F1", "adidas"), headers=platform)
    rules_url = f"/v1/malls/{bare_mall['id']}/rules"
    for ids in ([999_999], [zone.json()["id"], 424_242]):
        error = error_of(client.put(rules_url, json={"tenant_zone_ids": ids}, headers=platform),
                         422)  # fmt: skip
        assert error["code"] == "unknown_zone"
    ok = client.put(rules_url, json={"tenant_zone_ids": [zone.json()["id"]]}, headers=platform)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    "condition",
    [{"fact": "visits_total", "op": "<", "value": "abc"},
     {"fact": "visits_30d", "op": ">=", "value": "3"},
     {"fact": "loyalty_tier", "op": ">", "value": "gold"},
     {"fact": "loyalty_tier", "op": "==", "value": 3}],
)  # fmt: skip
def test_segment_conditions_that_could_never_match_are_refused(
    client: TestClient,
    platform: dict[str, str],
    bare_mall: dict[str, Any],
    condition: dict[str, Any],
) -> None:
    body = {"segments": [{"name": "odd_ones", "all": [condition]}]}
    answer = client.put(f"/v1/malls/{bare_mall['id']}/rules", json=body, headers=platform)
    assert error_of(answer, 422)["code"] == "validation_error"


def test_a_mall_with_zones_is_deleted_only_when_its_name_is_repeated(
    client: TestClient, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    client.post(zones_url(bare_mall), json=zone_feature("F1", "adidas"), headers=platform)
    url = f"/v1/malls/{bare_mall['id']}"
    error = error_of(client.delete(url, headers=platform), 409)
    assert (error["code"], error["details"]["zones"]) == ("confirmation_required", 1)
    error_of(client.delete(url, params={"confirm": "another name"}, headers=platform), 409)
    assert client.get(url, headers=platform).status_code == 200
    deleted = client.delete(url, params={"confirm": bare_mall["name"]}, headers=platform)
    assert deleted.status_code == 204
    assert client.get(url, headers=platform).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [("/v1/devices", {"platform": "android", "consents": {"marketing_push": 0}},
      "body.consents.marketing_push"),
     ("/v1/devices", {"platform": "android", "consents": {"location": "yes"}},
      "body.consents.location")],
)  # fmt: skip
def test_what_the_schema_forbids_is_not_coerced(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    error = error_of(client.post(path, json=body), 422)
    assert error["details"]["fields"][0]["field"] == field


def test_a_mall_id_as_text_is_refused(client: TestClient, db: Database, mall_id: int) -> None:
    _, headers = register(client, location=True)
    body = {"mall_id": str(mall_id), "pings": [ping(time.time(), 120.0, 30.0)]}
    error = error_of(client.post("/v1/pings", headers=headers, json=body), 422)
    assert error["details"]["fields"][0]["field"] == "body.mall_id"


def test_the_openapi_document_tells_the_truth(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {name: s["scheme"] for name, s in schemes.items()} == {
        "apiKey": "bearer", "deviceToken": "bearer", "ownTracks": "basic"}  # fmt: skip
    assert spec["paths"]["/v1/malls"]["get"]["security"] == [{"apiKey": []}]
    assert spec["paths"]["/v1/pings"]["post"]["security"] == [{"deviceToken": []}]
    assert spec["paths"]["/owntracks"]["post"]["security"] == [{"ownTracks": []}]
    batch = spec["components"]["schemas"]["PingBatch"]["properties"]["pings"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 500)
    footprint = spec["components"]["schemas"]["MallCreate"]["properties"]["footprint"]
    assert [k["properties"]["type"]["const"] for k in footprint["oneOf"]] == [
        "Polygon", "MultiPolygon"]  # fmt: skip
    assert "anyOf" in spec["components"]["schemas"]["Targets"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation and path != "/owntracks":
                assert {"400", "413", "422"} <= set(operation["responses"]), (method, path)


def test_a_misspelt_query_parameter_is_named_not_ignored(
    client: TestClient, db: Database, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    # `kind` filters the export; `kinds` would have answered every zone as if it were honoured.
    error = error_of(client.get(f"{zones_url(bare_mall)}?level=0&kinds=store", headers=platform),
                     422)  # fmt: skip
    assert error["code"] == "unknown_parameter"
    assert error["details"]["field"] == "query.kinds"
    assert "kind" in error["details"]["known"]
    assert "kind" in error["message"]
    # A change with an unknown parameter stores nothing.
    feature = zone_feature("F1", "adidas")
    body = {"type": "FeatureCollection", "features": [feature]}
    refused = client.post(f"{zones_url(bare_mall)}/import?levl=0", json=body, headers=platform)
    assert error_of(refused, 422)["details"]["field"] == "query.levl"
    assert rows(db, Zone) == 0
    assert client.get(f"{zones_url(bare_mall)}?level=0&kind=store", headers=platform).is_success


def test_a_date_time_sent_as_a_number_is_refused_not_read_as_1970(
    client: TestClient, mall: dict[str, Any]
) -> None:
    # JSON Schema types these as text; pydantic's lax mode read 0 as 1970-01-01 (found by fuzzing).
    offer = {"title": "Two coffees", "body": "Tonight", "category": "cafe",
             "targets": {"kinds": ["food_court"]}, "trigger": "enter",
             "schedule": {"starts_at": 0}}  # fmt: skip
    refused = client.post("/v1/tenant/promotions", json=offer, headers=mall["starbucks"])
    assert error_of(refused, 422)["details"]["fields"][0]["field"] == "body.schedule.starts_at"
    receipt = {"txn_id": "T-1", "member_id": "M-1", "at": 1764900000, "amount": 10,
               "currency": "CNY", "items": 1}  # fmt: skip
    till = client.post("/v1/tenant/purchases", json={"purchases": [receipt]},
                       headers=mall["starbucks"])  # fmt: skip
    assert error_of(till, 422)["code"] == "validation_error"
    assert "not a number" in till.text
