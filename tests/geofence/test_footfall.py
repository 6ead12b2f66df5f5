"""Footfall and dwell per zone, and live presence: counts read back through the operator's API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from core.db import Database
from tests.support.api import error_of, evening_now, shopper, starbucks, stay, walk_in


def test_footfall_counts_visits_shoppers_and_dwell_of_the_exits(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    url = f"/v1/malls/{mall['id']}/footfall"
    assert client.get(url, headers=mall["operator"]).json()["zones"] == []
    at = evening_now()
    dwells = []
    for i in range(2):  # in and out again
        events = walk_in(client, shopper(client), lon, lat, at + 300 * i)
        dwells += [e["dwell_s"] for e in events if e["zone_id"] == zone_id and e["kind"] == "exit"]
    staying = shopper(client)
    answer = client.post("/v1/pings", headers=staying, json={"pings": stay(lon, lat, at + 900)})
    assert answer.status_code == 200
    assert len(dwells) == 2

    found = client.get(url, headers=mall["operator"]).json()
    (store,) = [z for z in found["zones"] if z["zone_id"] == zone_id]
    assert (store["visits"], store["shoppers"]) == (3, 3)
    assert store["mean_dwell_s"] == pytest.approx(sum(dwells) / 2, abs=0.1)
    assert store["median_dwell_s"] == pytest.approx(sum(dwells) / 2, abs=0.1)
    # The days are the mall's: the evening's own day holds the visits, the day before none.
    day = datetime.fromtimestamp(at, ZoneInfo("Asia/Shanghai")).date()
    that_day = client.get(url, headers=mall["operator"],
                          params={"since": str(day), "until": str(day)}).json()  # fmt: skip
    assert [z["visits"] for z in that_day["zones"] if z["zone_id"] == zone_id] == [3]
    before = str(day - timedelta(days=1))
    earlier = client.get(url, headers=mall["operator"], params={"since": before, "until": before})
    assert earlier.json()["zones"] == []


def test_live_presence_counts_who_is_in_each_zone_now(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    url = f"/v1/malls/{mall['id']}/presence"
    assert client.get(url, headers=mall["operator"]).json()["shoppers"] == 0
    at = evening_now()
    walk_in(client, shopper(client), lon, lat, at)  # in, then out: in the mall, not the store
    staying = shopper(client)
    client.post("/v1/pings", headers=staying, json={"pings": stay(lon, lat, at + 300)})

    now = client.get(url, headers=mall["operator"]).json()
    assert now["shoppers"] == 2
    counts = {z["zone_id"]: z["shoppers"] for z in now["zones"]}
    assert counts[zone_id] == 1
    assert 0 not in counts  # the mall itself is the total, not a zone

    assert client.delete("/v1/devices/me", headers=staying).status_code == 204
    after = client.get(url, headers=mall["operator"]).json()
    assert after["shoppers"] == 1
    assert zone_id not in {z["zone_id"] for z in after["zones"]}


def test_footfall_and_presence_are_the_operator_s_alone(
    client: TestClient, mall: dict[str, Any]
) -> None:
    for path in ("footfall", "presence"):
        url = f"/v1/malls/{mall['id']}/{path}"
        assert error_of(client.get(url, headers=mall["starbucks"]), 403)["code"] == "wrong_role"
        assert error_of(client.get(f"/v1/malls/{mall['id'] + 1}/{path}",
                                   headers=mall["operator"]), 404)  # fmt: skip
    backwards = client.get(f"/v1/malls/{mall['id']}/footfall", headers=mall["operator"],
                           params={"since": "2026-11-20", "until": "2026-11-01"})  # fmt: skip
    assert error_of(backwards, 422)["code"] == "invalid_range"
