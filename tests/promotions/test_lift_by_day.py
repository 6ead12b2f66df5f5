"""The lift by day: everyone chosen and converted up to each day, ending on the funnel's lift."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from tests.support.api import (
    approved_promotion,
    error_of,
    evening_now,
    shopper,
    starbucks,
    walk_in,
)


def test_the_last_day_s_lift_is_the_funnel_s_and_days_before_hold_nothing(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    rules_url = f"/v1/malls/{mall['id']}/rules"
    rules = client.get(rules_url, headers=mall["operator"]).json()
    rules.pop("mall_id")
    assert client.put(rules_url, headers=mall["operator"],
                      json=rules | {"holdout_share": 0.5}).status_code == 200  # fmt: skip
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    offer = f"/v1/offers/{promotion['id']}"
    for i in range(16):
        headers = shopper(client)
        walk_in(client, headers, lon, lat, evening_now() + 60 * i)
        if i % 3 == 0:
            assert client.post(f"{offer}/redeemed", headers=headers).status_code == 200

    url = f"/v1/malls/{mall['id']}/analytics/lift-by-day"
    days = client.get(url, headers=mall["operator"]).json()
    assert len(days) == 30
    total = client.get(f"/v1/malls/{mall['id']}/analytics",
                       headers=mall["operator"]).json()["total"]  # fmt: skip
    last = days[-1]["lift"]
    assert last == total["lift"]
    assert last["treated"] + last["holdout"] == 16
    assert last["treated_conversions"] + last["holdout_conversions"] == 6
    # Cumulative: never falling, and nothing before the first decision's day.
    treated = [d["lift"]["treated"] + d["lift"]["holdout"] for d in days]
    assert treated == sorted(treated)
    first = date.fromisoformat(days[treated.index(16)]["day"])
    since, until = first - timedelta(days=3), first - timedelta(days=1)
    before = client.get(url, headers=mall["operator"],
                        params={"since": str(since), "until": str(until)}).json()  # fmt: skip
    assert [d["lift"]["treated"] + d["lift"]["holdout"] for d in before] == [0, 0, 0]
    assert all(d["lift"]["lift"] is None for d in before)

    mine = client.get("/v1/tenant/results/lift-by-day", headers=mall["starbucks"]).json()
    assert mine[-1]["lift"] == last
    theirs = client.get("/v1/tenant/results/lift-by-day", headers=mall["adidas"]).json()
    assert theirs[-1]["lift"]["treated"] == 0
    assert error_of(client.get(url, headers=mall["starbucks"]), 403)["code"] == "wrong_role"


def test_days_at_the_ends_of_the_calendar_are_refused_not_overflowed(
    client: TestClient, mall: dict[str, Any]
) -> None:
    for path in ("analytics/lift-by-day", "analytics/daily", "footfall"):
        url = f"/v1/malls/{mall['id']}/{path}"
        for since, until in (("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31")):
            answer = client.get(url, headers=mall["operator"],
                                params={"since": since, "until": until})  # fmt: skip
            assert error_of(answer, 422)["code"] == "invalid_range", (path, since)
