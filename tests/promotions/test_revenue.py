"""Revenue lift from the database: the pairs of a promotion whose shoppers are members, what
they bought in the offer's store within the purchase window, whether they bought anywhere in the
mall within the churn window; per tier; and only one's own promotions for a tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from core.db import Database
from tests.support.api import approved_promotion, shopper, starbucks

NOW = datetime.now(UTC)


def member(client: TestClient, mall: dict[str, Any]) -> tuple[str, uuid.UUID]:
    headers = shopper(client, loyalty=True)
    member_id = f"M-{uuid.uuid4().hex[:8]}"
    linked = client.put("/v1/devices/me/member", headers=headers,
                        json={"mall_id": mall["id"], "member_id": member_id})  # fmt: skip
    assert linked.status_code == 200, linked.text
    device = client.get("/v1/devices/me", headers=headers).json()["device_id"]
    return member_id, uuid.UUID(device)


def decided(db: Database, mall: dict[str, Any], promotion: dict[str, Any], device: uuid.UUID,
            outcome: str, at: datetime, variant: str | None = None) -> None:  # fmt: skip
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO decisions (device_id, mall_id, promotion_id, tenant_id, outcome, "
            "segments, explanation, at, variant, outreach_key, created_at) VALUES (:d, :m, :p, "
            ":t, :o, '[]', '{}', :at, :v, :k, now())"
        ), {"d": device, "m": mall["id"], "p": promotion["id"], "t": promotion["tenant_id"],
            "o": outcome, "at": at, "v": variant, "k": uuid.uuid4().hex})  # fmt: skip


def bought(client: TestClient, headers: dict[str, str], member_id: str, at: datetime,
           amount: str, txn: str | None = None, refund_of: str | None = None) -> None:  # fmt: skip
    receipt = {"txn_id": txn or uuid.uuid4().hex[:16], "member_id": member_id,
               "at": at.isoformat(), "amount": amount, "currency": "CNY", "items": 1,
               "refund_of": refund_of}  # fmt: skip
    answer = client.post("/v1/tenant/purchases", headers=headers, json={"purchases": [receipt]})
    assert answer.json()["stored"] == 1, answer.text


def test_revenue_lift_counts_what_members_bought_after(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    then = NOW - timedelta(days=70)  # the churn window (60 days) has ended
    (a, a_device), (b, b_device), (c, c_device), (d, d_device) = (member(client, mall)
                                                                 for _ in range(4))  # fmt: skip
    decided(db, mall, promotion, a_device, "sent", then, variant="severe")
    decided(db, mall, promotion, b_device, "sent", then)
    decided(db, mall, promotion, c_device, "holdout", then)
    decided(db, mall, promotion, d_device, "holdout", then)
    bought(client, mall["starbucks"], a, then + timedelta(days=1), "40.00")
    bought(client, mall["starbucks"], a, then + timedelta(days=6), "60.00")
    bought(client, mall["adidas"], a, then + timedelta(days=2), "500.00")  # another store
    bought(client, mall["starbucks"], b, then + timedelta(days=10), "80.00")  # after the window
    bought(client, mall["starbucks"], d, then + timedelta(days=3), "30.00")
    bought(client, mall["starbucks"], c, then - timedelta(days=1), "99.00")  # before the push

    answer = client.get(f"/v1/malls/{mall['id']}/analytics/revenue", headers=mall["operator"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["currency"], body["purchase_window_days"], body["churn_window_days"]) == (
        "CNY", 7, 60)  # fmt: skip
    tiers = {t["tier"]: t["revenue"] for t in body["promotions"][0]["tiers"]}
    assert list(tiers) == ["all", "base", "severe"]
    everyone = tiers["all"]
    assert (everyone["treated"], everyone["holdout"]) == (2, 2)
    assert everyone["revenue_per_shopper_treated"] == 50.0  # (100 + 0) / 2
    assert everyone["revenue_per_shopper_holdout"] == 15.0  # (0 + 30) / 2
    assert everyone["incremental_revenue_per_shopper"]["estimate"] == 35.0
    assert (everyone["conversion_treated"], everyone["conversion_holdout"]) == (0.5, 0.5)
    assert (everyone["aov_treated"], everyone["aov_holdout"]) == (50.0, 30.0)
    assert (everyone["churn_treated"], everyone["churn_holdout"]) == (0.0, 0.5)  # c: none after
    interval = everyone["incremental_revenue_per_shopper"]
    assert interval["low"] < 35.0 < interval["high"]
    severe = tiers["severe"]
    assert (severe["treated"], severe["holdout"]) == (1, 0)
    assert severe["incremental_revenue_per_shopper"] == {"estimate": None, "low": None,
                                                         "high": None}  # fmt: skip


def test_what_came_back_is_not_revenue(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    then = NOW - timedelta(days=70)
    (a, a_device), (b, b_device) = member(client, mall), member(client, mall)
    decided(db, mall, promotion, a_device, "sent", then)
    decided(db, mall, promotion, b_device, "holdout", then)
    bought(client, mall["starbucks"], a, then + timedelta(days=1), "100.00", txn="A-1")
    bought(client, mall["starbucks"], b, then + timedelta(days=2), "50.00", txn="B-1")
    bought(client, mall["starbucks"], a, then + timedelta(days=9), "100.00", refund_of="A-1")
    bought(client, mall["starbucks"], b, then + timedelta(days=3), "20.00", refund_of="B-1")

    body = client.get(f"/v1/malls/{mall['id']}/analytics/revenue",
                      headers=mall["operator"]).json()  # fmt: skip
    everyone = body["promotions"][0]["tiers"][0]["revenue"]
    assert (everyone["revenue_per_shopper_treated"], everyone["revenue_per_shopper_holdout"]) == (
        0.0, 30.0)  # fmt: skip
    assert (everyone["conversion_treated"], everyone["conversion_holdout"]) == (0.0, 1.0)
    assert (everyone["churn_treated"], everyone["churn_holdout"]) == (1.0, 0.0)


def test_churn_waits_for_its_window_and_tenants_see_their_own(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id)
    recent = NOW - timedelta(days=3)
    for outcome in ("sent", "holdout"):
        _, device = member(client, mall)
        decided(db, mall, promotion, device, outcome, recent)
    own = client.get("/v1/tenant/results/revenue", headers=mall["starbucks"]).json()
    everyone = own["promotions"][0]["tiers"][0]["revenue"]
    assert (everyone["churn_units_treated"], everyone["churn_units_holdout"]) == (0, 0)
    assert everyone["churn_treated"] is None
    other = client.get("/v1/tenant/results/revenue", headers=mall["adidas"]).json()
    assert other["promotions"] == []
    assert other["tenant_id"] != own["tenant_id"]


def test_neither_a_shopper_nor_a_store_reads_the_malls_revenue(
    client: TestClient, mall: dict[str, Any]
) -> None:
    device = shopper(client)
    assert client.get("/v1/tenant/results/revenue", headers=device).status_code == 401
    mall_revenue = f"/v1/malls/{mall['id']}/analytics/revenue"
    assert client.get(mall_revenue, headers=mall["starbucks"]).status_code == 403
