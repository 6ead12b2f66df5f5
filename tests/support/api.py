"""Helpers of tests that talk to the app (TestClient) and its database: keys, malls, shoppers,
pings, promotions, deliveries. Fixtures live in tests/conftest.py."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from access.keys import create_key
from core.db import Database
from core.devices.models import Device
from geofence.models import Zone
from push.models import Delivery
from push.outbox import RetryPolicy, enqueue
from runtime.jobs import Jobs
from tests.support.ilc import mall_body


def issue_key(db: Database, **kwargs: Any) -> str:
    with db.sessions() as session:
        issued = create_key(session, **kwargs)
        session.commit()
        return issued.plaintext


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# A footprint far from the real mall's: a second mall may not overlap the first.
ELSEWHERE = {"type": "Polygon", "coordinates": [[[121.0, 31.0], [121.01, 31.0], [121.01, 31.01],
                                                 [121.0, 31.0]]]}  # fmt: skip


def create_mall(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/malls", json=mall_body() | changes, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


def starbucks(db: Database, mall_id: int, level: int = 0) -> tuple[int, float, float]:
    """Id and the deepest point of the F1 (level 0) Starbucks unit near the south-east atrium."""
    from geoalchemy2.shape import to_shape
    from shapely.ops import polylabel

    from geofence.models import Level

    with db.sessions() as session:
        zones = session.execute(
            select(Zone).join(Level, Zone.level_id == Level.id)
            .where(Zone.mall_id == mall_id, Zone.name == "STARBUCKS COFFEE",
                   Level.ordinal == level)
            .order_by(Zone.id)
        ).scalars().all()  # fmt: skip
        zone = zones[-1]
        point = polylabel(to_shape(zone.geom), tolerance=1e-7)
        return zone.id, point.x, point.y


def register(client: TestClient, **consents: bool) -> tuple[str, dict[str, str]]:
    # A token of its own, as each installation has (a token registered again moves to the
    # device that registered it last).
    body = {"platform": "android", "app_version": "1.0", "locale": "zh-CN",
            "fcm_token": f"fcm-token-{uuid.uuid4().hex}", "consents": consents}  # fmt: skip
    response = client.post("/v1/devices", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return data["device_id"], bearer(data["token"])


def ping(ts: float | str, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {"ts": ts, "lon": lon, "lat": lat, "accuracy_m": 3.0, "level": 0} | extra


def count(db: Database, model: Any) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def zones_url(mall: dict[str, Any]) -> str:
    return f"/v1/malls/{mall['id']}/zones"


def device(client: TestClient, **consents: bool) -> uuid.UUID:
    device_id, _ = register(client, **consents)
    return uuid.UUID(device_id)


FAST = RetryPolicy(base_s=0.2, max_s=2.0, quota_s=0.0, max_attempts=5)


def deliveries(db: Database, n: int, *, ttl: timedelta = timedelta(minutes=10)) -> list[str]:
    """n pending pushes to n devices (tokens tok-<i>), written as the engine writes them."""
    tokens = [f"tok-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    with db.sessions() as session:
        mall_id = session.execute(text(
            "INSERT INTO malls (name, timezone, footprint, zones_version, created_at, updated_at) "
            "VALUES (:n, 'Asia/Shanghai', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))', 4326),"
            " 1, now(), now()) RETURNING id"), {"n": uuid.uuid4().hex}).scalar()  # fmt: skip
        for token in tokens:
            device = Device(platform="android", fcm_token=token, consent_location=True,
                            consent_marketing_push=True)  # fmt: skip
            session.add(device)
            session.flush()
            event_id = session.execute(text(
                "INSERT INTO zone_events (device_id, mall_id, subject, kind, at, created_at) "
                "VALUES (:d, :m, 'mall', 'enter', now(), now()) RETURNING id"),
                {"d": device.id, "m": mall_id}).scalar()  # fmt: skip
            decision_id = session.execute(
                text("INSERT INTO decisions (event_id, device_id, mall_id, outcome, segments, "
                     "explanation, at, created_at) VALUES (:e, :d, :m, 'sent', '[]', '{}', "
                     "now(), now()) RETURNING id"),
                {"e": event_id, "d": device.id, "m": mall_id},
            ).scalar()  # fmt: skip
            enqueue(session, decision_id=int(decision_id or 0), device_id=device.id,
                    title="Two coffees, one price", body="Tonight only",
                    data={"decision_id": str(decision_id), "promotion_id": "1"},
                    collapse_key="promotion-1", image_url=None,
                    created_at=datetime.now(UTC), ttl=ttl)  # fmt: skip
        session.commit()
    return tokens


def states(db: Database) -> Counter[str]:
    with db.sessions() as session:
        return Counter(session.scalars(select(Delivery.state)))


def jobs_for(client: TestClient) -> Jobs:
    state = client.app.state  # type: ignore[attr-defined]
    return Jobs(state.database, state.settings, state.zone_cache, state.event_sink)


def approved_promotion(
    client: TestClient, mall: dict[str, Any], zone_id: int, **fields: Any
) -> dict[str, Any]:
    body = {
        "title": "Two coffees, one price",
        "body": "Tonight only, show this at the till",
        "category": "cafe",
        "targets": {"zones": [zone_id]},
        "trigger": "enter",
    } | fields
    created = client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"])
    assert created.status_code == 201, created.text
    promotion = created.json()
    assert promotion["status"] == "draft"
    submitted = client.post(
        f"/v1/tenant/promotions/{promotion['id']}/submit", headers=mall["starbucks"]
    )
    assert submitted.json()["status"] == "submitted", submitted.text
    approved = client.post(
        f"/v1/malls/{mall['id']}/promotions/{promotion['id']}/approve", headers=mall["operator"]
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["active"] is True
    return approved.json()  # type: ignore[no-any-return]


def shopper(client: TestClient, **consents: bool) -> dict[str, str]:
    client_consents = {"location": True, "marketing_push": True} | consents
    return register(client, **client_consents)[1]


def stay(
    lon: float, lat: float, at: float, seconds: float = 30, every_s: float = 6, **extra: Any
) -> list[dict[str, Any]]:
    """Pings of a shopper standing at a point (within a metre of it) for `seconds` from `at`:
    the stop that occupancy inference enters a unit on."""
    wobble = [(0.8, 0.0), (-0.6, 0.5), (0.1, -0.9), (-0.4, -0.3), (0.5, 0.7)]
    count = int(seconds // every_s) + 1
    return [
        ping(at + i * every_s, lon + wobble[i % 5][0] / 96_000, lat + wobble[i % 5][1] / 111_000,
             **extra)
        for i in range(count)
    ]  # fmt: skip


def walk_in(
    client: TestClient, headers: dict[str, str], lon: float, lat: float, at: float
) -> list[dict[str, Any]]:
    """Half a minute standing in the unit, then three pings 40 m away: the unit's enter and
    exit events with their decisions."""
    away_lon = lon + 40 / 96_000
    away = [ping(at + 60 + 6 * i, away_lon, lat) for i in range(3)]
    response = client.post("/v1/pings", headers=headers, json={"pings": stay(lon, lat, at) + away})
    assert response.status_code == 200, response.text
    return response.json()["events"]  # type: ignore[no-any-return]


def evening_now() -> float:
    """A recent instant at 19:00-19:40 in Shanghai (outside the default quiet hours)."""
    return local_instant(19)


SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_instant(hour: int) -> float:
    """A recent instant between hour:00 and hour:40 in Shanghai that a test may walk at.

    Pings are accepted from 24 h ago to 5 min ahead, and tests walk up to ~22 min past the
    instant: it is at least 20 min ago and at most 23 h 40 min ago, whatever the time now.
    """
    latest = datetime.now(SHANGHAI) - timedelta(minutes=20)
    if latest.hour == hour and latest.minute < 40:
        return latest.timestamp()
    instant = latest.replace(hour=hour, minute=40, second=0, microsecond=0)
    if instant > latest:
        instant -= timedelta(days=1)
    return instant.timestamp()
