"""Operators read a mall's zone events, with the confidence of each store enter (issue 27)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from tests.support.api import (
    ELSEWHERE,
    bearer,
    create_mall,
    error_of,
    issue_key,
    ping,
    register,
    starbucks,
    stay,
)


def walk(client: TestClient, lon: float, lat: float, at: float) -> str:
    """A shopper standing in the store for a minute, then gone 40 m: their device id."""
    device_id, headers = register(client, location=True)
    away = [ping(at + 70 + 6 * i, lon + 40 / 96_000, lat) for i in range(3)]
    body = {"pings": stay(lon, lat, at, seconds=60) + away}
    assert client.post("/v1/pings", headers=headers, json=body).status_code == 200
    return device_id


def test_operators_page_through_zone_events_with_their_confidence(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    now = time.time() - 600
    first, second = walk(client, lon, lat, now), walk(client, lon, lat, now + 200)
    url = f"/v1/malls/{mall['id']}/zone-events"

    everything = client.get(url, headers=mall["operator"])
    assert everything.status_code == 200, everything.text
    events = everything.json()["events"]
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    enters = [e for e in events if e["zone_id"] == zone_id and e["kind"] == "enter"]
    assert {e["device_id"] for e in enters} == {first, second}
    for enter in enters:
        assert 0.9 <= enter["confidence"] <= 1
        assert enter["evidence_fixes"] >= 3
        assert enter["evidence_from"] < enter["at"]
    assert all(e["confidence"] is None for e in events if e["subject"] == "mall")

    # Filters: one device, one zone, one kind, a time range, a least confidence.
    mine = client.get(url, headers=mall["operator"], params={"device_id": first}).json()
    assert {e["device_id"] for e in mine["events"]} == {first}
    store = client.get(url, headers=mall["operator"],
                       params={"zone_id": zone_id, "kind": "enter"}).json()  # fmt: skip
    assert len(store["events"]) == 2
    later = datetime.fromtimestamp(now + 150, UTC).isoformat()
    recent = client.get(url, headers=mall["operator"], params={"since": later}).json()
    assert {e["device_id"] for e in recent["events"]} == {second}
    none = client.get(url, headers=mall["operator"], params={"min_confidence": 1.0}).json()
    assert all(e["confidence"] == 1.0 for e in none["events"])

    # Pages: two at a time, newest first, none repeated or skipped.
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(url, headers=mall["operator"], params=params).json()
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in events]


def test_zone_events_are_an_operator_s_of_their_own_malls_only(
    client: TestClient, db: Database, mall: dict[str, Any], platform: dict[str, str]
) -> None:
    url = f"/v1/malls/{mall['id']}/zone-events"
    elsewhere = create_mall(client, platform, footprint=ELSEWHERE)
    other = bearer(issue_key(db, role="operator", mall_ids=[elsewhere["id"]]))
    assert error_of(client.get(url, headers=other), 404)["code"] == "mall_not_found"
    assert client.get(url, headers=mall["starbucks"]).status_code == 403
    assert client.get(url).status_code == 401


def test_bad_filters_say_which(client: TestClient, mall: dict[str, Any]) -> None:
    url = f"/v1/malls/{mall['id']}/zone-events"
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"since": "0"}, "query.since"),
        ({"since": "2026-12-07T10:00:00"}, "query.since"),  # no time zone: which 10:00?
        ({"kind": "teleport"}, "query.kind"),
        ({"min_confidence": 2}, "query.min_confidence"),
        ({"cursor": "abc"}, "query.cursor"),
        ({"limit": 0}, "query.limit"),
        ({"device_id": "nope"}, "query.device_id"),
    ]
    for params, field in cases:
        error = error_of(client.get(url, headers=mall["operator"], params=params), 422)
        assert error["details"]["fields"][0]["field"] == field, params
    backwards = {"since": "2026-12-07T10:00:00Z", "until": "2026-12-07T09:00:00Z"}
    error = error_of(client.get(url, headers=mall["operator"], params=backwards), 422)
    assert (error["code"], error["details"]["field"]) == ("empty_range", "query.until")
