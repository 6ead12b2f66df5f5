"""The nightly lifecycle job and what it serves, on the real database through the API: members
drawn from the model's own story, imported as a till history, placed, counted by week; one
member's view; and who may see what."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from core.db import Database
from core.members.models import MemberStanding
from core.tenants.models import Tenant
from loyalty.csv_import import COLUMNS, import_purchases
from loyalty.synthetic import draw, receipts
from tests.support.api import error_of, jobs_for, register, starbucks, stay

DAYS = 300


def store_ids(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        return {t.name: t.id for t in session.scalars(select(Tenant))}


def import_drawn(db: Database, mall_id: int, members: int, seed: int) -> datetime:
    """A till history of `members` members over the last DAYS days; returns its first day."""
    stores = store_ids(db)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    drawn = draw(members, DAYS - 1, np.random.default_rng(seed))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(receipts(drawn, [stores["STARBUCKS COFFEE"], stores["adidas"]], start))
    out.seek(0)
    with db.sessions() as session:
        import_purchases(session, mall_id, out)
        session.commit()
    return start


@pytest.fixture
def lifecycle(client: TestClient, db: Database, mall: dict[str, Any]) -> dict[str, Any]:
    import_drawn(db, mall["id"], 400, seed=11)
    placed = jobs_for(client).member_lifecycle()
    assert placed == 400
    return mall


def standings(db: Database) -> list[MemberStanding]:
    with db.sessions() as session:
        return list(session.scalars(select(MemberStanding).order_by(MemberStanding.member_id)))


def test_the_nightly_job_places_every_member(client: TestClient, db: Database,
                                             lifecycle: dict[str, Any]) -> None:  # fmt: skip
    placed = standings(db)
    assert len(placed) == 400
    # Enough members and repeaters: the model ran for every one of them.
    chances = {s.member_id: s.p_alive for s in placed if s.p_alive is not None}
    assert len(chances) == 400
    assert all(0 <= p <= 1 for p in chances.values())
    assert all((s.expected_purchases or 0) >= 0 and (s.predicted_value or 0) >= 0 for s in placed)
    # Those who stopped long ago are the likeliest gone.
    lapsed = [chances[s.member_id] for s in placed if "lapsed_buyer" in s.segments]
    recent = [chances[s.member_id] for s in placed if s.last_purchase and
              (date.today() - s.last_purchase).days < 14 and s.purchases > 2]  # fmt: skip
    assert lapsed
    assert recent
    assert np.mean(lapsed) < np.mean(recent)
    assert {"churn_risk", "top_spender", "lapsed_buyer"} <= {n for s in placed for n in s.segments}
    tiers = {s.tier for s in placed}
    assert tiers <= {None, "mild", "severe"}
    assert all(("drop_" + s.tier) in s.segments for s in placed if s.tier)

    # Run again: the same places, and each segment keeps the day it began.
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE member_standings SET since = (SELECT jsonb_object_agg(k, "
                "'2026-01-01') FROM jsonb_object_keys(since) k) WHERE segments <> '[]'"
            )
        )
    jobs_for(client).member_lifecycle()
    again = standings(db)
    assert [(s.member_id, s.segments, s.p_alive) for s in again] == [
        (s.member_id, s.segments, s.p_alive) for s in placed
    ]
    assert {d for s in again for d in s.since.values()} == {"2026-01-01"}


def test_weekly_figures_add_up_to_the_receipts(
    client: TestClient, db: Database, lifecycle: dict[str, Any]
) -> None:
    url = f"/v1/malls/{lifecycle['id']}/lifecycle"
    since = (date.today() - timedelta(days=DAYS + 7)).isoformat()
    answer = client.get(url, params={"since": since}, headers=lifecycle["operator"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    weeks = body["weeks"]
    with db.engine.connect() as conn:
        total, revenue = conn.execute(text("SELECT count(*), sum(amount) FROM purchases")).one()
    assert sum(w["purchases"] for w in weeks) == total
    assert sum(float(w["revenue"]) for w in weeks) == pytest.approx(float(revenue))
    assert sum(w["new"] for w in weeks) == 400  # every member joined within the range
    assert body["currency"] == "CNY"
    assert body["now"]["members"] == 400
    assert sum(body["now"]["p_alive"].values()) == 400
    assert body["now"]["model"]["members_fitted"] == 400
    busy = max(weeks, key=lambda w: w["active"])
    assert busy["purchase_frequency"] == pytest.approx(busy["purchases"] / busy["active"], 1e-3)
    assert float(busy["average_order_value"]) == pytest.approx(
        float(busy["revenue"]) / busy["purchases"], abs=0.01
    )
    assert weeks[-1]["lapsed"] > 0

    # A store's and a segment's figures are parts of the whole.
    stores = store_ids(db)
    shop = client.get(url, params={"since": since, "tenant_id": stores["adidas"]},
                      headers=lifecycle["operator"]).json()  # fmt: skip
    risky = client.get(url, params={"since": since, "segment": "churn_risk"},
                       headers=lifecycle["operator"]).json()  # fmt: skip
    assert 0 < sum(w["purchases"] for w in shop["weeks"]) < total
    assert all(w["activated"] is None for w in shop["weeks"])
    assert 0 < risky["now"]["members"] < 400


def test_a_store_sees_only_its_own_figures_and_no_member(
    client: TestClient, db: Database, lifecycle: dict[str, Any]
) -> None:
    since = (date.today() - timedelta(days=DAYS + 7)).isoformat()
    mine = client.get("/v1/tenant/lifecycle", params={"since": since},
                      headers=lifecycle["adidas"])  # fmt: skip
    assert mine.status_code == 200, mine.text
    adidas = store_ids(db)["adidas"]
    assert mine.json()["tenant_id"] == adidas
    with db.engine.connect() as conn:
        theirs = conn.execute(text("SELECT count(*) FROM purchases WHERE tenant_id = :t"),
                              {"t": adidas}).scalar_one()  # fmt: skip
    assert sum(w["purchases"] for w in mine.json()["weeks"]) == theirs
    mall_url = f"/v1/malls/{lifecycle['id']}"
    for response in (
        client.get(f"{mall_url}/lifecycle", headers=lifecycle["adidas"]),
        client.post(f"{mall_url}/members/view", headers=lifecycle["adidas"],
                    json={"member_id": "SM00000001"}),
        client.get(f"{mall_url}/loyalty/rules", headers=lifecycle["adidas"]),
    ):  # fmt: skip
        assert error_of(response, 403)["code"] == "wrong_role"


def test_an_operator_sees_one_members_timeline(
    client: TestClient, db: Database, lifecycle: dict[str, Any]
) -> None:
    device_id, headers = register(client, location=True, loyalty=True, marketing_push=True)
    link = client.put("/v1/devices/me/member", headers=headers,
                      json={"mall_id": lifecycle["id"], "member_id": "sm00000007"})  # fmt: skip
    assert link.status_code == 200, link.text
    _, lon, lat = starbucks(db, lifecycle["id"])
    pings = client.post("/v1/pings", headers=headers,
                        json={"pings": stay(lon, lat, time.time() - 60)})  # fmt: skip
    assert pings.status_code == 200, pings.text

    view = client.post(f"/v1/malls/{lifecycle['id']}/members/view",
                       headers=lifecycle["operator"], json={"member_id": "SM00000007"})  # fmt: skip
    assert view.status_code == 200, view.text
    body = view.json()
    kinds = [entry["kind"] for entry in body["timeline"]]
    assert "visit" in kinds
    assert "purchase" in kinds
    assert body["devices"] == 1
    assert body["standing"]["purchases"] >= 1
    assert [e["at"] for e in body["timeline"]] == sorted((e["at"] for e in body["timeline"]),
                                                          reverse=True)  # fmt: skip
    assert "SM00000007" not in view.text
    assert device_id not in view.text

    unknown = client.post(f"/v1/malls/{lifecycle['id']}/members/view",
                          headers=lifecycle["operator"], json={"member_id": "NOBODY"})  # fmt: skip
    assert error_of(unknown, 404)["code"] == "member_not_found"


@pytest.mark.parametrize(
    "params",
    [{"until": "0001-01-10"}, {"since": "2026-12-01", "until": "2026-11-01"},
     {"since": "1969-12-29"}, {"until": "9999-12-31"}],
)  # fmt: skip
def test_a_range_out_of_the_calendar_is_refused(
    client: TestClient, mall: dict[str, Any], params: dict[str, str]
) -> None:
    answer = client.get(f"/v1/malls/{mall['id']}/lifecycle", params=params,
                        headers=mall["operator"])  # fmt: skip
    assert error_of(answer, 422)["code"] == "invalid_range"


def test_the_thresholds_are_the_operators(
    client: TestClient, db: Database, lifecycle: dict[str, Any]
) -> None:
    url = f"/v1/malls/{lifecycle['id']}/loyalty/rules"
    assert client.get(url, headers=lifecycle["operator"]).json()["mild_drop"] == 0.3
    wrong = client.put(url, headers=lifecycle["operator"],
                       json={"mild_drop": 0.5, "severe_drop": 0.4})  # fmt: skip
    assert error_of(wrong, 422)["code"] == "validation_error"
    before = sum(len(s.segments) for s in standings(db))
    nobody_at_risk = {"churn_risk_below": 0.0001, "lapsed_weeks": 104, "top_spender_share": 0}
    saved = client.put(url, headers=lifecycle["operator"], json=nobody_at_risk)
    assert saved.status_code == 200, saved.text
    jobs_for(client).member_lifecycle()
    after = {n for s in standings(db) for n in s.segments}
    assert not after & {"churn_risk", "lapsed_buyer", "top_spender"}
    assert sum(len(s.segments) for s in standings(db)) < before


@pytest.mark.parametrize("path", ["/v1/malls/{mall}/lifecycle", "/v1/tenant/lifecycle"])
def test_a_segment_that_does_not_exist_is_named_not_answered_empty(
    client: TestClient, mall: dict[str, Any], path: str
) -> None:
    who = mall["operator"] if "{mall}" in path else mall["starbucks"]
    answer = client.get(path.format(mall=mall["id"]), params={"segment": "churn-risk"},
                        headers=who)  # fmt: skip
    error = error_of(answer, 422)
    assert error["code"] == "unknown_segment"
    assert "churn_risk" in error["message"]
    assert error["details"] == {"field": "segment"}


def test_a_mall_without_receipts_goes_through_the_nightly_job(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    # A new mall: no receipts yet, then one member linked from the app who has bought nothing.
    assert jobs_for(client).member_lifecycle() == 0
    _, headers = register(client, loyalty=True)
    linked = client.put("/v1/devices/me/member", headers=headers,
                        json={"member_id": "LOYAL-1", "mall_id": mall["id"]})  # fmt: skip
    assert linked.status_code == 200, linked.text
    assert jobs_for(client).member_lifecycle() == 1
    [standing] = standings(db)
    assert (standing.purchases, standing.p_alive) == (0, None)
