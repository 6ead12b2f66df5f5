"""Two writers at once, each in its own transaction, the second while the first has not yet
committed: what each is answered and what is stored.

- One redemption at once: the app's retry racing its first try, two tills scanning one code.
  One redemption is stored; the app's second answer is the first's, a second till is told the
  code was used (never a 409 "conflict" nor a 500).
- A mall's rules put twice at once (a double-clicked Save): both succeed, the later wins.
- A change to a row another request is deleting, or changing, at the same moment (an operator's
  two tabs, an app's PATCH racing its own erasure): the later request waits, then is answered as
  if it had come after (a 404, a 401, the consent as it now stands), never a 500 or a lost
  update."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import lock_device
from core.db import Database, lock_row
from core.devices import service as devices
from core.devices.models import Device
from core.devices.schemas import ConsentsPatch, DevicePatch
from core.errors import Conflict
from core.scope import MallScope
from core.tenants import service as tenants
from geofence import levels, zones
from geofence.models import Mall
from geofence.schemas import LevelUpdate
from loyalty.nightly import get_loyalty_rules, put_loyalty_rules
from loyalty.schemas import LoyaltyRulesIn
from promotions import catalog, outcomes
from promotions.models import Decision, Redemption
from promotions.schemas import MallRulesIn
from tests.support.api import (
    approved_promotion,
    evening_now,
    register,
    shopper,
    starbucks,
    walk_in,
)


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


def while_held(db: Database, hold: Callable[[Session], Any], request: Callable[[], Any]) -> Any:
    """`request` (an HTTP call) made while `hold` (another request's work) has not committed:
    it must wait for it, then answer; its response."""
    answer: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: answer.setdefault("response", request()))
    with db.sessions() as session:
        hold(session)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive()  # it waits for the other request's lock
        session.commit()
    thread.join(30)
    return answer["response"]


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


def test_a_zone_changed_as_it_is_deleted_is_not_found(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    url = f"/v1/malls/{mall['id']}/zones/{zone_id}"

    def delete(session: Session) -> None:
        zones.delete_zone(session, MallScope.everything(), mall["id"], zone_id)

    patched = while_held(db, delete, lambda: client.patch(
        url, json={"properties": {"dwell_seconds": 90}}, headers=mall["operator"]))  # fmt: skip
    assert patched.status_code == HTTPStatus.NOT_FOUND, patched.text
    assert patched.json()["error"]["code"] == "zone_not_found"


def test_two_floor_changes_at_once_both_tell_the_replicas(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    with db.sessions() as session:
        before = session.get(Mall, mall["id"]).zones_version  # type: ignore[union-attr]

    def rename(session: Session) -> None:
        levels.update_level(session, MallScope.everything(), mall["id"], 0, LevelUpdate(name="G"))

    renamed = while_held(db, rename, lambda: client.patch(
        f"/v1/malls/{mall['id']}/levels/1", json={"name": "First"},
        headers=mall["operator"]))  # fmt: skip
    assert renamed.status_code == HTTPStatus.OK, renamed.text
    with db.sessions() as session:
        # Each change bumped the version from the last committed one: none lost.
        assert session.get(Mall, mall["id"]).zones_version == before + 2  # type: ignore[union-attr]


def test_a_tenant_renamed_as_it_is_deleted_is_not_found(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    made = client.post(f"/v1/malls/{mall['id']}/tenants", headers=mall["operator"],
                       json={"name": "Pop-up", "category": "gifts"}).json()  # fmt: skip

    def delete(session: Session) -> None:
        tenants.delete_tenant(session, mall["id"], made["id"])

    renamed = while_held(db, delete, lambda: client.patch(
        f"/v1/malls/{mall['id']}/tenants/{made['id']}", json={"name": "Pop-up 2"},
        headers=mall["operator"]))  # fmt: skip
    assert renamed.status_code == HTTPStatus.NOT_FOUND, renamed.text


def test_an_app_changing_its_device_as_it_is_erased_is_told_its_token_is_gone(
    client: TestClient, db: Database
) -> None:
    device_id, headers = register(client, location=True)

    def erase(session: Session) -> None:
        device = lock_row(session, Device, device_id)
        assert device is not None
        devices.erase_device(session, device)

    changed = while_held(db, erase, lambda: client.patch(
        "/v1/devices/me", json={"locale": "en-GB"}, headers=headers))  # fmt: skip
    assert changed.status_code == HTTPStatus.UNAUTHORIZED, changed.text
    with db.sessions() as session:
        assert session.get(Device, device_id) is None


def test_a_membership_linked_as_the_loyalty_consent_is_withdrawn_is_refused(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    device_id, headers = register(client, location=True, loyalty=True)

    def withdraw(session: Session) -> None:
        device = session.get(Device, device_id)
        assert device is not None
        devices.update_device(session, lock_device(session, device),
                              DevicePatch(consents=ConsentsPatch(loyalty=False)))  # fmt: skip

    linked = while_held(db, withdraw, lambda: client.put(
        "/v1/devices/me/member", json={"mall_id": mall["id"], "member_id": "M-1"},
        headers=headers))  # fmt: skip
    # Judged on the consent as it stands once the withdrawal committed, not as first read.
    assert linked.status_code == HTTPStatus.FORBIDDEN, linked.text
    assert client.get("/v1/devices/me", headers=headers).json()["member_linked"] is False
