"""Tiered offers: one promotion with a variant per frequency-drop tier; the engine picks the
member's tier's variant, says why, and the push carries that variant's text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from core.db import Database
from promotions.engine import Occasion, Offer, Rules, Shopper, Stats, Usage, decide
from promotions.models import Decision
from tests.support.api import approved_promotion, error_of, evening_now, shopper, starbucks
from tests.support.api import walk_in as walk

EVENING = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)  # 19:00 in Shanghai
OFFER = Offer(id=10, tenant_id=1, category="cafe", trigger="enter", zone_ids=frozenset({7}),
              tiers=frozenset({"mild", "severe"}))  # fmt: skip
OCCASION = Occasion("enter", 7, EVENING, level=0, zone_tenant_id=1)
RULES = Rules("Asia/Shanghai", quiet=None, holdout_share=0.0)


def choose(offer: Offer, tier: str | None, drop: float | None = None) -> Any:
    member = Shopper(uuid.uuid4(), tier=tier, frequency_drop=drop)
    return decide(OCCASION, member, [offer], Usage(), RULES, Stats(), np.random.default_rng(1))


@pytest.mark.parametrize(
    ("tier", "offer_tiers", "variant"),
    [
        ("mild", {"mild", "severe"}, "mild"),
        ("severe", {"mild", "severe"}, "severe"),
        (None, {"mild", "severe"}, None),  # no drop: the offer itself
        ("severe", {"mild"}, None),  # no variant for this tier: the offer itself
    ],
)
def test_the_members_tier_picks_the_variant(
    tier: str | None, offer_tiers: set[str], variant: str | None
) -> None:
    offer = Offer(**{**OFFER.__dict__, "tiers": frozenset(offer_tiers)})
    choice = choose(offer, tier, 0.7 if tier else None)
    assert choice.outcome == "sent"
    assert choice.variant == variant
    why = choice.explanation()["variant"]
    assert why == {"tier": tier, "frequency_drop": 0.7 if tier else None,
                   "variant": variant or "base", "offer_tiers": sorted(offer_tiers)}  # fmt: skip


def test_an_offer_without_variants_says_nothing_of_tiers() -> None:
    plain = Offer(**{**OFFER.__dict__, "tiers": frozenset()})
    choice = choose(plain, "severe", 0.9)
    assert choice.variant is None
    assert "variant" not in choice.explanation()


VARIANTS = [
    {"tier": "mild", "title": "10% off your next coffee", "body": "We missed you"},
    {"tier": "severe", "title": "25% off, just for you", "body": "Come back this week"},
]


def link_member_with_tier(client: TestClient, db: Database, mall: dict[str, Any], tier: str
                          ) -> dict[str, str]:  # fmt: skip
    headers = shopper(client, loyalty=True)
    member_id = f"M-{uuid.uuid4().hex[:8]}"
    linked = client.put("/v1/devices/me/member", headers=headers,
                        json={"mall_id": mall["id"], "member_id": member_id})  # fmt: skip
    assert linked.status_code == 200, linked.text
    with db.engine.begin() as conn:  # where the nightly job would have filed them
        conn.execute(text(
            "INSERT INTO member_standings (member_id, mall_id, segments, since, tier, "
            "frequency_drop, purchases, computed_at) SELECT member_id, :m, "
            "CAST(:segments AS jsonb), '{}', :tier, 0.72, 5, now() FROM member_devices "
            "WHERE device_id = (SELECT id FROM devices ORDER BY created_at DESC LIMIT 1)"
        ), {"m": mall["id"], "segments": f'["drop_{tier}"]', "tier": tier})  # fmt: skip
    return headers


def test_a_severe_drop_gets_the_severe_variant_in_its_push(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    rules = client.put(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"],
                       json={"holdout_share": 0, "quiet_hours": None})  # fmt: skip
    assert rules.status_code == 200, rules.text
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(client, mall, zone_id, variants=VARIANTS,
                                   audience={"segments": ["drop_mild", "drop_severe"]})  # fmt: skip
    assert [v["tier"] for v in promotion["variants"]] == ["mild", "severe"]
    for tier, title in (("severe", "25% off, just for you"), ("mild", "10% off your next coffee")):
        headers = link_member_with_tier(client, db, mall, tier)
        events = walk(client, headers, lon, lat, evening_now())
        enter = next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)
        assert enter["decision"]["outcome"] == "sent", enter
        assert enter["decision"]["title"] == title
        with db.sessions() as session:
            decision = session.get(Decision, enter["decision"]["decision_id"])
            assert decision is not None
            assert decision.variant == tier
            assert decision.explanation["variant"]["frequency_drop"] == 0.72
        with db.engine.connect() as conn:
            pushed = conn.execute(text("SELECT title FROM deliveries WHERE decision_id = :d"),
                                  {"d": enter["decision"]["decision_id"]}).scalar_one()  # fmt: skip
        assert pushed == title
    # A shopper who is no member of a dropping tier is not in this offer's audience at all.
    events = walk(client, shopper(client), lon, lat, evening_now())
    enter = next(e for e in events if e["kind"] == "enter" and e["zone_id"] == zone_id)
    assert enter["decision"]["outcome"] == "none"
    with db.sessions() as session:
        sent = session.scalars(select(Decision.variant).where(Decision.outcome == "sent")).all()
    assert sorted(v or "" for v in sent) == ["mild", "severe"]


def test_two_variants_of_one_tier_are_refused(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    zone_id, _, _ = starbucks(db, mall["id"])
    body = {"title": "T", "body": "B", "category": "cafe", "targets": {"zones": [zone_id]},
            "variants": [VARIANTS[0], VARIANTS[0]]}  # fmt: skip
    refused = client.post("/v1/tenant/promotions", json=body, headers=mall["starbucks"])
    assert error_of(refused, 422)["code"] == "validation_error"
