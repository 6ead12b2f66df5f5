"""Shopper devices and ping ingest through HTTP, on the seeded real mall."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.db import Database
from core.settings import Settings
from geofence.cache import ZoneIndexCache
from geofence.models import Mall, Ping, Presence, ZoneEvent
from tests.support.api import bearer, count, error_of, ping, register, starbucks, stay


def test_register_read_update_and_rotate(client: TestClient) -> None:
    device_id, headers = register(client)
    me = client.get("/v1/devices/me", headers=headers).json()
    assert me["device_id"] == device_id
    off = {"location": False, "marketing_push": False, "loyalty": False}
    assert me["consents"] == off  # off unless given
    assert me["has_fcm_token"] is True

    patched = client.patch("/v1/devices/me", headers=headers, json={
        "consents": {"location": True}, "interests": ["Coffee", "coffee", " kids "],
        "locale": "en-GB", "fcm_token": None,
    })  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert patched.json()["consents"] == off | {"location": True}
    assert patched.json()["interests"] == ["coffee", "kids"]
    assert patched.json()["has_fcm_token"] is False

    rotated = client.post("/v1/devices/me/token", headers=headers).json()
    assert client.get("/v1/devices/me", headers=headers).status_code == 401  # old token revoked
    assert client.get("/v1/devices/me", headers=bearer(rotated["token"])).status_code == 200


def test_a_push_address_belongs_to_the_device_that_registered_it_last(client: TestClient) -> None:
    # One phone, two device records (the app registered again after its storage was cleared):
    # one push, not two, and the first record's caps do not count the second's pushes.
    def register_with(address: dict[str, str]) -> dict[str, str]:
        made = client.post("/v1/devices", json={"platform": "android", **address}).json()
        return bearer(made["token"])

    def holds(headers: dict[str, str]) -> tuple[bool, bool]:
        me = client.get("/v1/devices/me", headers=headers).json()
        return me["has_fcm_token"], me["has_fcm_fid"]

    first = register_with({"fcm_token": "phone-1", "fcm_fid": "fid-1"})
    second = register_with({"fcm_token": "phone-1"})
    assert (holds(first), holds(second)) == ((False, True), (True, False))
    client.patch("/v1/devices/me", headers=first, json={"fcm_token": "phone-1"})
    assert (holds(first), holds(second)) == ((True, True), (False, False))
    third = register_with({"fcm_fid": "fid-1", "fcm_token": "phone-3"})
    assert (holds(first), holds(third)) == ((True, False), (True, True))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "symbian"}, "body.platform"),
        ({"platform": "ios", "locale": "not a locale"}, "body.locale"),
        ({"platform": "ios", "consents": {"location": "yes please"}}, "body.consents.location"),
        ({"platform": "ios", "fcm_token": ""}, "body.fcm_token"),
    ],
)
def test_bad_registration_says_which_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    error = error_of(client.post("/v1/devices", json=body), 422)
    assert error["details"]["fields"][0]["field"] == field


def test_device_tokens_and_api_keys_do_not_mix(
    client: TestClient, platform: dict[str, str]
) -> None:
    _, headers = register(client)
    assert error_of(client.get("/v1/devices/me", headers=platform), 403)["code"] == "wrong_role"
    assert error_of(client.get("/v1/malls", headers=headers), 401)["code"] == (
        "invalid_credentials"
    )
    forged = headers["Authorization"][:-3] + "abc"
    assert client.get("/v1/devices/me", headers={"Authorization": forged}).status_code == 401


def test_no_location_consent_no_processing(client: TestClient, db: Database, mall_id: int) -> None:
    _, headers = register(client, location=False)
    _, lon, lat = starbucks(db, mall_id)
    response = client.post("/v1/pings", headers=headers, json={"pings": [ping(time.time(), lon,
                           lat)]})  # fmt: skip
    assert error_of(response, 403)["code"] == "location_consent_required"
    assert count(db, Ping) == 0


def test_pings_produce_events_once_and_are_idempotent(
    client: TestClient, db: Database, mall_id: int
) -> None:
    zone_id, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    now = time.time()
    batch = {"pings": stay(lon, lat, now - 60, seconds=54)}  # 10 pings, standing in the store

    first = client.post("/v1/pings", headers=headers, json=batch)
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (10, 0, 0)
    assert result["mall_id"] == mall_id
    assert [(e["subject"], e["kind"], e["zone_id"]) for e in result["events"]] == [
        ("mall", "enter", None), ("zone", "enter", zone_id),
    ]  # fmt: skip
    mall_enter, store_enter = result["events"]
    assert store_enter["zone_name"] == "STARBUCKS COFFEE"
    # The store (a unit) was entered on a stop: how sure, and on what evidence.
    assert store_enter["confidence"] >= 0.9
    assert store_enter["evidence_fixes"] >= 3
    assert store_enter["evidence_from"] < store_enter["at"]
    assert mall_enter["confidence"] is None  # an area: the ping itself
    decision = store_enter["decision"]
    assert (decision["outcome"], decision["reason"]) == ("none", "no_offers")  # none approved

    again = client.post("/v1/pings", headers=headers, json=batch).json()
    assert (again["accepted"], again["duplicates"], again["events"]) == (0, 10, [])
    assert count(db, Ping) == 10
    assert count(db, ZoneEvent) == 2


def test_each_bad_ping_is_rejected_with_its_reason(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    now = time.time()
    pings = [
        ping(now - 5, lon, lat),  # good
        ping(now - 4, lon, 95.0),
        ping(now - 3, 200.0, lat),
        ping(now - 2, lon, lat, accuracy_m=0),
        ping(now - 1, lon, lat, accuracy_m=50_000),
        ping(now + 600, lon, lat),
        ping(now - 3 * 86_400, lon, lat),
        ping("2026-11-24T10:00:00", lon, lat),  # no time zone
        ping(now * 1000, lon, lat),  # milliseconds
        {"ts": now - 6, "lat": lat, "accuracy_m": 3},
        ping(now - 7, lon, lat, level="1"),
        ping(now - 8, lon, lat, level=True),
        "not an object",
        ping(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 9)), lon, lat),  # good
        ping(now - 10, float("nan"), lat),
    ]
    response = client.post(
        "/v1/pings",
        headers=headers | {"Content-Type": "application/json"},
        content=_json_with_nan(pings),
    )
    assert response.status_code == 200, response.text
    result = response.json()
    codes = {r["index"]: r["code"] for r in result["rejections"]}
    assert codes == {
        1: "coordinate_out_of_range", 2: "coordinate_out_of_range", 3: "invalid_accuracy",
        4: "invalid_accuracy", 5: "timestamp_in_future", 6: "timestamp_too_old",
        7: "invalid_timestamp", 8: "invalid_timestamp", 9: "missing_field", 10: "invalid_level",
        11: "invalid_level", 12: "invalid_ping", 14: "non_finite_number",
    }  # fmt: skip
    assert result["accepted"] == 2
    assert count(db, Ping) == 2


def _json_with_nan(value: Any) -> bytes:
    import json

    return json.dumps({"pings": value}).encode()  # Python writes NaN, as some clients do


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"pings": []}, 422, "empty_batch"),
        ({"pings": [{}] * 501}, 413, "batch_too_large"),
        ({"mall_id": 999, "pings": [{}]}, 404, "unknown_mall"),
        ({"mall_id": 0, "pings": [{}]}, 422, "validation_error"),
        ({"pings": "lots"}, 422, "validation_error"),
    ],
)
def test_bad_batches(
    client: TestClient, db: Database, mall_id: int, body: dict[str, Any], status: int, code: str
) -> None:
    _, headers = register(client, location=True)
    assert error_of(client.post("/v1/pings", headers=headers, json=body), status)["code"] == code


def test_pings_far_from_any_mall_are_not_stored(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, headers = register(client, location=True)
    tiananmen = ping(time.time(), 116.3975, 39.9087)
    result = client.post("/v1/pings", headers=headers, json={"pings": [tiananmen]}).json()
    assert (result["accepted"], result["outside"], result["events"]) == (0, 1, [])
    assert count(db, Ping) == 0


def test_erasure_removes_everything_about_the_device(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    _, keep_headers = register(client, location=True)
    _, headers = register(client, location=True)
    now = time.time()
    for h in (keep_headers, headers):
        client.post("/v1/pings", headers=h, json={"pings": stay(lon, lat, now - 40)})
    assert count(db, ZoneEvent) == 4  # each: the mall and the store
    assert client.delete("/v1/devices/me", headers=headers).status_code == 204
    assert (count(db, Ping), count(db, ZoneEvent), count(db, Presence)) == (6, 2, 1)
    assert client.get("/v1/devices/me", headers=headers).status_code == 401


def test_withdrawing_location_consent_forgets_presence(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    client.post("/v1/pings", headers=headers, json={"pings": [ping(time.time(), lon, lat)]})
    assert count(db, Presence) == 1
    client.patch("/v1/devices/me", headers=headers, json={"consents": {"location": False}})
    assert count(db, Presence) == 0
    refused = client.post("/v1/pings", headers=headers, json={"pings": [ping(time.time(), lon,
                          lat)]})  # fmt: skip
    assert error_of(refused, 403)["code"] == "location_consent_required"


@pytest.fixture
def replica(db: Database, settings: Settings) -> Iterator[TestClient]:
    """A second API process on the same database (its own caches)."""
    other = settings.model_copy(update={"zone_refresh_s": 0.0})
    with TestClient(create_app(other, db), raise_server_exceptions=False) as client:
        yield client


def test_a_restarted_server_does_not_enter_again(
    client: TestClient, replica: TestClient, db: Database, mall_id: int
) -> None:
    zone_id, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    standing = stay(lon, lat, time.time() - 120, seconds=108)  # 19 pings, 6 s apart
    # The stop begins on one process and is confirmed on the other: one enter, not two.
    begun = client.post("/v1/pings", headers=headers, json={"pings": standing[:2]})
    assert [e["zone_id"] for e in begun.json()["events"]] == [None]  # the mall only, so far
    went_on = replica.post("/v1/pings", headers=headers, json={"pings": standing[2:6]})
    assert [(e["kind"], e["zone_id"]) for e in went_on.json()["events"]] == [("enter", zone_id)]
    for server, part in ((client, standing[6:12]), (replica, standing[12:])):
        later = server.post("/v1/pings", headers=headers, json={"pings": part})
        assert [e["kind"] for e in later.json()["events"]] in ([], ["dwell"])
    with db.sessions() as session:
        enters = session.scalar(
            select(func.count()).where(ZoneEvent.kind == "enter", ZoneEvent.zone_id == zone_id)
        )
    assert enters == 1


def test_another_replica_notices_zone_changes(
    client: TestClient, replica: TestClient, db: Database, mall_id: int, platform: dict[str, str]
) -> None:
    zone_id, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    now = time.time()
    first = replica.post("/v1/pings", headers=headers, json={"pings": stay(lon, lat, now - 90)})
    assert zone_id in [e["zone_id"] for e in first.json()["events"]]  # replica's index is warm
    deleted = client.delete(f"/v1/malls/{mall_id}/zones/{zone_id}", headers=platform)
    assert deleted.status_code == 204
    result = replica.post("/v1/pings", headers=headers, json={"pings": [ping(now - 50, lon, lat)]})
    exits = [e for e in result.json()["events"] if e["kind"] == "exit"]
    assert [(e["zone_id"], e["reason"]) for e in exits] == [(zone_id, "zone_removed")]
    with db.sessions() as session:
        version = session.scalar(select(Mall.zones_version).where(Mall.id == mall_id))
    assert version is not None


def test_the_zone_cache_is_warmed_before_the_first_ping(db: Database, mall_id: int) -> None:
    # `mallcast serve` warms it at startup: the first ping must not wait seconds for a build.
    frozen = ZoneIndexCache(clock=lambda: 0.0)  # never looks at the database again by itself
    with db.sessions() as session:
        assert frozen.warm(session) == 1
    index = frozen.index(None, mall_id)  # type: ignore[arg-type]  # no session: must be built
    assert index is not None
    assert index.mall_id == mall_id


def test_a_rotated_or_erased_token_is_refused_on_pings_too(
    client: TestClient, db: Database, mall_id: int
) -> None:
    # The ping path checks a token's signature once per process and the device row under its
    # lock: a signature it has already seen must not let a revoked token through.
    _, lon, lat = starbucks(db, mall_id)
    _, old = register(client, location=True)
    batch = {"pings": [ping(time.time() - 30, lon, lat)]}
    assert client.post("/v1/pings", headers=old, json=batch).status_code == 200
    new = bearer(client.post("/v1/devices/me/token", headers=old).json()["token"])
    assert error_of(client.post("/v1/pings", headers=old, json=batch), 401)["code"] == (
        "invalid_credentials"
    )
    assert client.post("/v1/pings", headers=new, json=batch).status_code == 200
    assert client.delete("/v1/devices/me", headers=new).status_code == 204
    assert error_of(client.post("/v1/pings", headers=new, json=batch), 401)["code"] == (
        "invalid_credentials"
    )


def test_a_phone_whose_clock_is_off_says_when_it_sent_and_its_pings_are_moved(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, headers = register(client, location=True)
    _, lon, lat = starbucks(db, mall_id)
    fast = 20 * 60  # the phone's clock runs twenty minutes fast
    now = time.time()
    pings = stay(lon, lat, now - 60 + fast)
    refused = client.post("/v1/pings", headers=headers, json={"pings": pings}).json()
    assert {r["code"] for r in refused["rejections"]} == {"timestamp_in_future"}

    batch = {"pings": pings, "sent_at": now + fast}
    taken = client.post("/v1/pings", headers=headers, json=batch).json()
    assert (taken["accepted"], taken["rejected"], taken["clock_offset_s"]) == (6, 0, -fast)
    enter = next(e for e in taken["events"] if e["kind"] == "enter" and e["zone_id"])
    assert abs(datetime.fromisoformat(enter["at"]).timestamp() - now) < 90  # the server's clock
    # Sent again a few seconds later (the answer was lost): the same pings, known.
    again = client.post("/v1/pings", headers=headers, json=batch | {"sent_at": now + fast + 4})
    assert (again.json()["duplicates"], again.json()["accepted"]) == (6, 0)
    for wrong in ("yesterday", "2026-12-05T18:00:00", 1.8e12):  # no zone; milliseconds
        bad = client.post("/v1/pings", headers=headers, json=batch | {"sent_at": wrong})
        assert error_of(bad, 422)["details"]["fields"][0]["field"] == "body.sent_at"


def test_the_enter_confidence_is_the_operator_s_setting(settings: Settings) -> None:
    from pydantic import ValidationError

    from api.rules import presence_rules

    bolder = settings.model_copy(update={"enter_confidence": 0.7})
    assert presence_rules(bolder).occupancy.enter_confidence == 0.7
    assert presence_rules(settings).occupancy.enter_confidence == 0.9  # as measured and shipped
    with pytest.raises(ValidationError):
        Settings(enter_confidence=0.3)  # a coin flip or worse is not a confirmation
