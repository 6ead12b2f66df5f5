"""Scheduled jobs and the figures after what operators and shoppers delete: a store with its
offers and receipts, its zone, a shopper, and at last the mall."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import Database
from core.tenants.models import Tenant
from tests.loyalty.test_lifecycle import import_drawn
from tests.runtime.test_jobs import SCHEDULED
from tests.support.api import approved_promotion, evening_now, jobs_for, shopper, starbucks, walk_in


def test_every_job_and_figure_goes_on_after_deletes(
    client: TestClient, db: Database, mall: dict[str, Any], platform: dict[str, str]
) -> None:
    mall_id, operator = mall["id"], mall["operator"]
    zone_id, lon, lat = starbucks(db, mall_id)
    promotion = approved_promotion(client, mall, zone_id)
    headers = shopper(client)
    walk_in(client, headers, lon, lat, evening_now())
    client.post(f"/v1/offers/{promotion['id']}/redeemed", headers=headers)
    import_drawn(db, mall_id, 30, seed=3)
    jobs = jobs_for(client)

    def everything_runs() -> None:
        for name in SCHEDULED:
            assert getattr(jobs, name)() is not None, name
        for path in ("analytics", "analytics/daily", "analytics/revenue", "analytics/lift-by-day",
                     "lifecycle", "segments", "promotions", "presence", "footfall"):  # fmt: skip
            answer = client.get(f"/v1/malls/{mall_id}/{path}", headers=operator)
            assert answer.status_code == 200, (path, answer.text)
        for path in ("results", "results/daily", "results/revenue", "results/lift-by-day",
                     "lifecycle", "promotions"):  # fmt: skip
            answer = client.get(f"/v1/tenant/{path}", headers=mall["adidas"])
            assert answer.status_code == 200, (path, answer.text)

    everything_runs()
    with db.sessions() as session:
        starbucks_id = session.scalar(select(Tenant.id).where(Tenant.name == "STARBUCKS COFFEE"))
    deleted = client.delete(f"/v1/malls/{mall_id}/tenants/{starbucks_id}", headers=operator)
    assert deleted.status_code == 204, deleted.text
    everything_runs()
    deleted = client.delete(f"/v1/malls/{mall_id}/zones/{zone_id}", headers=operator)
    assert deleted.status_code == 204, deleted.text
    everything_runs()
    assert client.delete("/v1/devices/me", headers=headers).status_code == 204
    everything_runs()
    name = client.get(f"/v1/malls/{mall_id}", headers=operator).json()["name"]
    gone = client.delete(f"/v1/malls/{mall_id}", params={"confirm": name}, headers=platform)
    assert gone.status_code == 204, gone.text
    for job in SCHEDULED:
        assert getattr(jobs, job)() is not None, job
