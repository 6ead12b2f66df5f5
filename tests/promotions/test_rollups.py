"""The nightly segment recompute and the analytics roll-up: real jobs on the real database,
read back through the operator's and the tenant's API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from tests.support.api import (
    approved_promotion,
    error_of,
    evening_now,
    jobs_for,
    shopper,
    starbucks,
    walk_in,
)


def put_rules(client: TestClient, mall: dict[str, Any], **changes: Any) -> None:
    url = f"/v1/malls/{mall['id']}/rules"
    rules = client.get(url, headers=mall["operator"]).json()
    rules.pop("mall_id")
    answer = client.put(url, headers=mall["operator"], json=rules | changes)
    assert answer.status_code == 200, answer.text


def without_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "computed_at"} for row in rows]


def test_segments_are_recomputed_for_every_shopper_of_the_mall(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    pushed = {"name": "pushed", "all": [{"fact": "pushes", "op": ">=", "value": 1}]}
    put_rules(client, mall, holdout_share=0.0, segments=[pushed])
    zone_id, lon, lat = starbucks(db, mall["id"])
    approved_promotion(client, mall, zone_id)
    url = f"/v1/malls/{mall['id']}/segments"
    before = client.get(url, headers=mall["operator"]).json()
    assert (before["shoppers"], before["computed_at"]) == (0, None)

    shoppers = [shopper(client) for _ in range(3)]
    for i, headers in enumerate(shoppers):
        walk_in(client, headers, lon, lat, evening_now() + 120 * i)
    jobs = jobs_for(client)
    assert jobs.segment_recompute() == 3
    sizes = client.get(url, headers=mall["operator"]).json()
    assert sizes["shoppers"] == 3
    assert sizes["computed_at"] is not None
    assert sizes["segments"]["new"] == 3
    assert sizes["segments"]["returning"] == 0
    assert sizes["segments"]["pushed"] == 3  # the operator's own rule, over the pushes sent
    assert jobs.segment_recompute() == 3  # idempotent
    assert client.get(url, headers=mall["operator"]).json()["segments"] == sizes["segments"]

    assert client.delete("/v1/devices/me", headers=shoppers[0]).status_code == 204
    assert client.get(url, headers=mall["operator"]).json()["shoppers"] == 2  # erased at once
    assert error_of(client.get(url, headers=mall["starbucks"]), 403)["code"] == "wrong_role"


def test_the_daily_roll_up_matches_the_live_results(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    put_rules(client, mall, holdout_share=0.5)
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    offer = f"/v1/offers/{promotion['id']}"
    for i in range(12):
        headers = shopper(client)
        events = walk_in(client, headers, lon, lat, evening_now() + 60 * i)
        decision = next(e for e in events if e["zone_id"] == zone_id)["decision"]
        if i % 3 == 0:  # some open and redeem, treated or held out
            if decision["outcome"] == "sent":
                client.post(f"{offer}/opened", headers=headers)
            client.post(f"{offer}/redeemed", headers=headers)

    jobs = jobs_for(client)
    written = jobs.analytics_rollup()
    assert written is not None
    assert written >= 1
    url = f"/v1/malls/{mall['id']}/analytics/daily"
    days = client.get(url, headers=mall["operator"]).json()
    live = client.get(f"/v1/malls/{mall['id']}/analytics", headers=mall["operator"]).json()
    (expected,) = [p for p in live["promotions"] if p["id"] == promotion["id"]]
    mine = [d for d in days if d["promotion_id"] == promotion["id"]]
    for key in ("sent", "held_out", "opened", "redeemed", "delivered"):
        assert sum(d[key] for d in mine) == expected[key], key
    assert expected["sent"] + expected["held_out"] == 12
    assert expected["redeemed"] == 4

    assert jobs.analytics_rollup() == written  # idempotent: the same days again
    again = client.get(url, headers=mall["operator"]).json()
    assert without_time(again) == without_time(days)

    tenant_days = client.get("/v1/tenant/results/daily", headers=mall["starbucks"]).json()
    assert [d["promotion_id"] for d in tenant_days] == [d["promotion_id"] for d in days]
    assert client.get("/v1/tenant/results/daily", headers=mall["adidas"]).json() == []


def test_daily_ranges_are_checked(client: TestClient, mall: dict[str, Any]) -> None:
    url = f"/v1/malls/{mall['id']}/analytics/daily"
    backwards = client.get(url, headers=mall["operator"],
                           params={"since": "2026-11-20", "until": "2026-11-01"})  # fmt: skip
    assert error_of(backwards, 422)["code"] == "invalid_range"
    too_long = client.get(url, headers=mall["operator"],
                          params={"since": "2020-01-01", "until": "2026-11-01"})  # fmt: skip
    assert error_of(too_long, 422)["code"] == "range_too_long"
    assert error_of(client.get(url, headers=mall["operator"], params={"since": "yesterday"}), 422)
    assert client.get(url, headers=mall["operator"], params={"since": "2026-11-01"}).json() == []
