"""Outreach triggered by behaviour: a member the nightly job files as a lapsed buyer gets the
promotion that reaches out on it, in the mall's next send window (mall local time), once, with
the consent, caps, holdout and tier variants of any decision."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from core.db import Database
from promotions.models import Decision
from runtime.jobs import Jobs
from tests.support.api import error_of, local_instant, shopper

SHANGHAI = ZoneInfo("Asia/Shanghai")
WIN_BACK = {
    "title": "We kept a seat for you",
    "body": "10% off your next visit",
    "category": "cafe",
    "targets": {"mall": True},
    "trigger": "segment",
    "audience": {"segments": ["lapsed_buyer"]},
    "variants": [{"tier": "severe", "title": "25% off, this week only", "body": "Come back"}],
}


def approve(client: TestClient, mall: dict[str, Any], body: dict[str, Any]) -> int:
    created = client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"])
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert client.post(f"/v1/tenant/promotions/{pid}/submit",
                       headers=mall["starbucks"]).status_code == 200  # fmt: skip
    approved = client.post(f"/v1/malls/{mall['id']}/promotions/{pid}/approve",
                           headers=mall["operator"])  # fmt: skip
    assert approved.status_code == 200, approved.text
    return int(pid)


def lapsed_member(client: TestClient, db: Database, mall: dict[str, Any], entered: datetime,
                  tier: str | None = None, **consents: bool) -> dict[str, str]:  # fmt: skip
    """A shopper whose device is linked to a member the nightly job filed as a lapsed buyer on
    the local day of `entered`."""
    headers = shopper(client, loyalty=True, **consents)
    linked = client.put(
        "/v1/devices/me/member",
        headers=headers,
        json={"mall_id": mall["id"], "member_id": f"M-{uuid.uuid4().hex[:8]}"},
    )
    assert linked.status_code == 200, linked.text  # fmt: skip
    day = entered.astimezone(SHANGHAI).date().isoformat()
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO member_standings (member_id, mall_id, segments, since, tier, purchases, "
            "computed_at) SELECT member_id, :m, '[\"lapsed_buyer\"]', "
            "jsonb_build_object('lapsed_buyer', CAST(:day AS text)), :tier, 4, now() "
            "FROM member_devices ORDER BY linked_at DESC LIMIT 1"
        ), {"m": mall["id"], "day": day, "tier": tier})  # fmt: skip
    return headers


def jobs_at(client: TestClient, instant: float) -> Jobs:
    state = client.app.state  # type: ignore[attr-defined]
    return Jobs(state.database, state.settings, state.zone_cache, state.event_sink,
                clock=lambda: instant)  # fmt: skip


def outreach(db: Database) -> list[Decision]:
    with db.sessions() as session:
        return list(session.scalars(
            select(Decision).where(Decision.outreach_key.is_not(None)).order_by(Decision.id)
        ))  # fmt: skip


def pushed_titles(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT d.title FROM deliveries d JOIN decisions x ON x.id = d.decision_id "
            "WHERE x.outreach_key IS NOT NULL ORDER BY d.id")).scalars())  # fmt: skip


def test_a_lapsed_member_is_reached_in_the_next_send_window_once(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
               json={"holdout_share": 0})  # fmt: skip
    approve(client, mall, WIN_BACK)
    night, evening = local_instant(3), local_instant(19)  # 03:xx and 19:xx in Shanghai
    entered = datetime.fromtimestamp(min(night, evening), UTC)
    lapsed_member(client, db, mall, entered)
    severe = lapsed_member(client, db, mall, entered, tier="severe")

    # At three in the morning no window is open: nothing is decided, nothing is lost.
    assert jobs_at(client, night).outreach() == 0
    assert outreach(db) == []
    # In the evening window both go out, each with its tier's text.
    assert jobs_at(client, evening).outreach() == 2
    assert sorted(pushed_titles(db)) == ["25% off, this week only", "We kept a seat for you"]
    decided = outreach(db)
    assert [d.outcome for d in decided] == ["sent", "sent"]
    assert sorted(d.variant or "" for d in decided) == ["", "severe"]
    assert all(d.event_id is None and d.at == datetime.fromtimestamp(evening, UTC)
               for d in decided)  # fmt: skip
    # The next run, and the next evening: the same entry is not reached again.
    assert jobs_at(client, evening + 60).outreach() == 0
    assert jobs_at(client, evening + 86_400).outreach() == 0
    assert len(outreach(db)) == 2
    # The app reports the push opened like any other.
    severe_decision = next(d for d in decided if d.variant == "severe")
    opened = client.post(f"/v1/offers/{severe_decision.promotion_id}/opened", headers=severe)
    assert opened.status_code == 200, opened.text
    assert opened.json()["decision_id"] == severe_decision.id


def test_consent_caps_and_stale_entries(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
               json={"holdout_share": 0, "max_pushes_per_day": 0})  # fmt: skip
    approve(client, mall, WIN_BACK)
    evening = local_instant(19)
    now = datetime.fromtimestamp(evening, UTC)
    lapsed_member(client, db, mall, now, marketing_push=False)  # no consent: final
    lapsed_member(client, db, mall, now)  # capped today: tried again later
    lapsed_member(client, db, mall, now - timedelta(days=30))  # entered a month ago: no news
    # Capped for everyone today: nothing is stored, everyone is tried again.
    assert jobs_at(client, evening).outreach() == 0
    assert outreach(db) == []
    # The cap lifted: the capped member is reached; the one without consent gets a final
    # "none" with its reason (never tried again); the stale entry is never news.
    client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
               json={"holdout_share": 0, "max_pushes_per_day": 3})  # fmt: skip
    assert jobs_at(client, evening + 60).outreach() == 1
    decided = outreach(db)
    assert sorted((d.outcome, str(d.explanation["dropped"])) for d in decided) == [
        ("none", str({str(decided[0].promotion_id): ["no_marketing_consent"]})),
        ("sent", "{}"),
    ]
    assert jobs_at(client, evening + 120).outreach() == 0
    assert len(outreach(db)) == 2


def test_a_segment_trigger_needs_the_mall_and_a_segment(
    client: TestClient, mall: dict[str, Any]
) -> None:
    broken_ones: list[dict[str, Any]] = [{"audience": {}}, {"targets": {"kinds": ["food_court"]}}]
    for broken in broken_ones:
        refused = client.post("/v1/tenant/promotions", json=WIN_BACK | broken,
                              headers=mall["starbucks"])  # fmt: skip
        assert error_of(refused, 422)["code"] == "invalid_segment_trigger"
    unknown = client.post(
        "/v1/tenant/promotions",
        headers=mall["starbucks"],
        json=WIN_BACK | {"audience": {"segments": ["lapsed_buyers"]}},
    )
    assert error_of(unknown, 422)["code"] == "unknown_segment"  # fmt: skip


def test_an_outreach_push_must_be_out_before_the_quiet_hours_begin(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    # Quiet from 20:00: a push decided at 19:xx expires by then, however late FCM or the phone.
    quiet_at_eight = {"holdout_share": 0, "quiet_hours": {"start": "20:00", "end": "09:00"}}
    client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"], json=quiet_at_eight)
    approve(client, mall, WIN_BACK)
    evening = local_instant(19)
    lapsed_member(client, db, mall, datetime.fromtimestamp(evening, UTC))
    assert jobs_at(client, evening).outreach() == 1
    with db.engine.connect() as conn:
        ttl = conn.execute(text("SELECT expires_at - created_at FROM deliveries")).scalar_one()
    local = datetime.fromtimestamp(evening, SHANGHAI)
    quiet = local.replace(hour=20, minute=0, second=0, microsecond=0)
    assert timedelta(0) < ttl <= quiet - local
