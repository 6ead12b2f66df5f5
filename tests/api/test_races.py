"""Two writers at once, each in its own transaction, the second while the first has not yet
committed: what each is answered and what is stored.

- One redemption at once: the app's retry racing its first try, two tills scanning one code.
  One redemption is stored; the app's second answer is the first's, a second till is told the
  code was used (never a 409 "conflict" nor a 500).
- A mall's rules put twice at once (a double-clicked Save): both succeed, the later wins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.errors import Conflict
from loyalty.nightly import get_loyalty_rules, put_loyalty_rules
from loyalty.schemas import LoyaltyRulesIn
from promotions import catalog, outcomes
from promotions.models import Decision, Redemption
from promotions.schemas import MallRulesIn
from tests.support.api import approved_promotion, evening_now, shopper, starbucks, walk_in


def sent_decision(client: TestClient, db: Database, mall: dict[str, Any]) -> Decision:
    rules = client.get(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"]).json()
    rules.pop("mall_id")
    client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
               json=rules | {"holdout_share": 0})  # fmt: skip
    zone_id, lon, lat = starbucks(db, mall["id"])
    approved_promotion(client, mall, zone_id)
    events = walk_in(client, shopper(client), lon, lat, evening_now())
    decision = next(e for e in events if e["zone_id"] == zone_id)["decision"]
    assert decision["outcome"] == "sent", decision
    with db.sessions() as session:
        stored = session.get(Decision, decision["decision_id"])
        assert stored is not None
        session.expunge(stored)
        return stored


def race(db: Database, report: Callable[[Session], Any]) -> tuple[Any, Any]:
    """`report` in one transaction, and again in another while the first is not committed."""
    second: dict[str, Any] = {}

    def meanwhile() -> None:
        with db.sessions() as session:
            try:
                second["answer"] = report(session)
            except Conflict as exc:
                second["answer"] = exc.code
            session.commit()

    with db.sessions() as session:
        first = report(session)
        thread = threading.Thread(target=meanwhile)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # it waits for the first at the unique key
        session.commit()
    thread.join(30)
    return first, second["answer"]


def stored(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Redemption)) or 0)


def test_an_app_s_retry_racing_its_first_report_gets_the_same_redemption(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    decision = sent_decision(client, db, mall)
    assert decision.promotion_id is not None

    def report(session: Session) -> tuple[int, int | None]:
        assert decision.promotion_id is not None
        redemption = outcomes.redeemed(session, decision.device_id, decision.promotion_id)
        return redemption.id, redemption.decision_id

    first, second = race(db, report)
    assert first == second
    assert first[1] == decision.id
    assert stored(db) == 1


def test_two_tills_scanning_one_code_at_once_redeem_it_once(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    decision = sent_decision(client, db, mall)
    assert decision.redemption_code is not None

    def scan(session: Session) -> int:
        assert decision.tenant_id is not None
        assert decision.redemption_code is not None
        return outcomes.redeem_code(session, decision.tenant_id, decision.redemption_code).id

    first, second = race(db, scan)
    assert isinstance(first, int)
    assert second == "already_redeemed"
    assert stored(db) == 1


def test_rules_put_twice_at_once_both_succeed_and_the_later_wins(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    mall_id = mall["id"]
    loyalty = iter([LoyaltyRulesIn(lapsed_weeks=9), LoyaltyRulesIn(lapsed_weeks=11)])

    def put_loyalty(session: Session) -> int:
        return put_loyalty_rules(session, mall_id, next(loyalty)).lapsed_weeks

    caps = iter([MallRulesIn(max_pushes_per_day=2), MallRulesIn(max_pushes_per_day=3)])

    def put_caps(session: Session) -> int:
        return catalog.put_rules(session, mall_id, next(caps), {}).max_pushes_per_day

    assert race(db, put_loyalty) == (9, 11)
    assert race(db, put_caps) == (2, 3)
    with db.sessions() as session:
        assert get_loyalty_rules(session, mall_id).lapsed_weeks == 11
        assert catalog.get_rules(session, mall_id).max_pushes_per_day == 3


def test_an_offer_its_store_ends_as_the_operator_approves_it_stays_ended(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    body = {"title": "Two coffees, one price", "body": "Tonight only", "category": "cafe",
            "targets": {"zones": [zone_id]}, "trigger": "enter"}  # fmt: skip
    made = client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"]).json()
    client.post(f"/v1/tenant/promotions/{made['id']}/submit", headers=mall["starbucks"])
    steps = iter([catalog.end, catalog.approve])  # the store first, the operator a moment later

    def change(session: Session) -> str:
        promotion = catalog.get_promotion(session, made["id"], mall_id=mall["id"])
        return next(steps)(session, promotion).status

    assert race(db, change) == ("ended", "invalid_transition")
    with db.sessions() as session:
        assert catalog.get_promotion(session, made["id"], mall_id=mall["id"]).status == "ended"
