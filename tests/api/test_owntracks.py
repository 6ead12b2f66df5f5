"""The OwnTracks app as a shopper client: its payloads, as its documentation shows them."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import Database
from geofence.models import Ping, ZoneEvent
from tests.support.api import count, error_of, register, starbucks


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def owntracks_device(client: TestClient, **consents: bool) -> dict[str, str]:
    device_id, headers = register(client, **consents)
    return basic(device_id, headers["Authorization"].removeprefix("Bearer "))


def ios_location(lat: float, lon: float, tst: int) -> dict[str, Any]:
    """A location as the iOS app publishes it in HTTP mode."""
    return {
        "_type": "location", "acc": 5, "alt": 24, "batt": 78, "bs": 1, "conn": "w",
        "created_at": tst, "lat": lat, "lon": lon, "m": 1, "tid": "j1",
        "topic": "owntracks/jane/phone", "tst": tst, "vac": 3, "vel": 4, "cog": 270,
        "BSSID": "b0:f2:8:45:94:33", "SSID": "Mall WiFi", "p": 100.9, "t": "u",
        "inregions": ["Mall"], "inrids": ["mallcast-1-0"],
    }  # fmt: skip


def android_location(lat: float, lon: float, tst: int) -> dict[str, Any]:
    """A location as the Android app publishes it."""
    return {
        "_type": "location", "acc": 12, "alt": 31, "batt": 66, "bs": 1, "conn": "m",
        "created_at": tst + 1, "lat": lat, "lon": lon, "t": "p", "tid": "a5", "tst": tst,
        "vac": 2, "vel": 0, "topic": "owntracks/user/pixel",
    }  # fmt: skip


def post(client: TestClient, headers: dict[str, str], payload: Any) -> Any:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/owntracks", headers=headers, content=content)


def test_locations_are_ingested_and_the_app_gets_the_mall_as_waypoints(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    headers = owntracks_device(client, location=True)
    now = int(time.time())

    first = post(client, headers, ios_location(lat, lon, now - 20))
    assert first.status_code == 200, first.text
    [command] = first.json()
    assert (command["_type"], command["action"]) == ("cmd", "setWaypoints")
    waypoints = command["waypoints"]["waypoints"]
    assert 2 <= len(waypoints) <= 20
    assert waypoints[0]["desc"] == "Mall"
    assert waypoints[0]["rad"] > 100  # the whole building
    assert {"_type", "desc", "lat", "lon", "rad", "tst", "rid"} <= set(waypoints[1])
    assert len({w["tst"] for w in waypoints}) == len(waypoints)  # tst identifies a waypoint

    second = post(client, headers, android_location(lat, lon, now - 10))
    assert second.json() == []  # waypoints only again when the zones change
    assert count(db, Ping) == 2
    with db.sessions() as session:
        subjects = session.scalars(select(ZoneEvent.subject)).all()
    assert subjects == ["mall"]  # no floor in OwnTracks: only the mall visit
    with db.sessions() as session:
        stored = session.scalars(select(Ping).order_by(Ping.ts)).first()
        assert stored is not None
        assert stored.speed_mps == pytest.approx(4 / 3.6)  # km/h in, m/s stored
        assert stored.heading_deg == 270


@pytest.mark.parametrize(
    "payload",
    [
        {"_type": "transition", "wtst": 1600000000, "lat": 30.29, "lon": 120.07, "tst": 1,
         "acc": 10, "tid": "j1", "event": "enter", "desc": "Mall", "t": "c", "rid": "x"},
        {"_type": "lwt", "tst": 1},
        {"_type": "waypoints", "waypoints": []},
        {"_type": "waypoint", "desc": "Home", "lat": 1.0, "lon": 2.0, "rad": 50, "tst": 3},
        {"_type": "status", "iOS": {"locationManager": "authorizedAlways"}},
        {"_type": "card", "name": "Jane"},
        {"_type": "steps", "steps": 10, "from": 1, "to": 2},
    ],
)  # fmt: skip
def test_other_payload_types_are_accepted_and_ignored(
    client: TestClient, db: Database, payload: dict[str, Any]
) -> None:
    headers = owntracks_device(client, location=True)
    response = post(client, headers, payload)
    assert response.status_code == 200
    assert response.json() == []
    assert count(db, Ping) == 0


def test_empty_payload_is_ignored(client: TestClient) -> None:
    headers = owntracks_device(client, location=True)
    assert post(client, headers, b"").json() == []


NOW = int(time.time())


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"_type": "location", "lat": ', "malformed_json"),
        (b"[" * 100_000, "malformed_json"),  # nested deeper than any parser goes
        (b"\xff\xfe not even text", "malformed_json"),
        ({"_type": "location", "lon": 120.07, "tst": 1}, "invalid_payload"),
        ({"lat": 30.29, "lon": 120.07}, "invalid_payload"),
        ([{"_type": "location"}], "invalid_payload"),
        ({"_type": "encrypted", "data": "c2VjcmV0"}, "encryption_not_supported"),
        ({"_type": "location", "lat": 30.29, "lon": 120.07, "tst": "now"}, "invalid_timestamp"),
        ({"_type": "location", "lat": 30.29, "lon": 120.07, "tst": str(NOW)},
         "invalid_timestamp"),
        ({"_type": "location", "lat": 95.0, "lon": 120.07, "tst": NOW},
         "coordinate_out_of_range"),
        ({"_type": "location", "lat": 10**400, "lon": 120.07, "tst": NOW}, "non_finite_number"),
        ({"_type": "location", "lat": 30.29, "lon": 120.07, "tst": NOW, "acc": 0},
         "invalid_accuracy"),
        ({"_type": "location", "lat": 30.29, "lon": 120.07, "tst": NOW, "acc": -5},
         "invalid_accuracy"),
        ({"_type": "location", "lat": 30.29, "lon": 120.07, "tst": NOW - 3 * 86_400},
         "timestamp_too_old"),  # a phone that was offline for days
        ({"_type": "location", "lat": 30.29, "lon": 120.07, "tst": NOW + 3600},
         "timestamp_in_future"),  # its clock runs ahead
    ],
)  # fmt: skip
def test_what_cannot_be_used_is_answered_2xx_so_the_app_queue_moves_on(
    client: TestClient, db: Database, mall_id: int, payload: Any, reason: str
) -> None:
    # The app retries anything else at the head of its queue, forever.
    headers = owntracks_device(client, location=True)
    before = _dropped(client, reason)
    response = post(client, headers, payload)
    assert response.status_code == 200, response.text
    assert response.json() == []
    assert count(db, Ping) == 0
    assert _dropped(client, reason) == before + 1


def _dropped(client: TestClient, reason: str) -> float:
    prefix = f'mallcast_owntracks_dropped_total{{reason="{reason}"}} '
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_credentials(client: TestClient, db: Database, mall_id: int) -> None:
    _, lon, lat = starbucks(db, mall_id)
    headers = owntracks_device(client, location=True)
    other_id, _ = register(client, location=True)
    user, password = base64.b64decode(headers["Authorization"][6:]).decode().split(":", 1)
    payload = ios_location(lat, lon, int(time.time()))
    for bad in (basic(user, password + "x"), basic(other_id, password),
                {"Authorization": "Basic !!!"}, {}):  # fmt: skip
        response = post(client, bad, payload)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    refused = post(client, owntracks_device(client, location=False), payload)
    assert error_of(refused, 403)["code"] == "location_consent_required"
    assert count(db, Ping) == 0
