"""The decision as a pure function: eligibility with reasons, ranking, holdout, segments."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from promotions.engine import (
    Occasion,
    Offer,
    Rules,
    Shopper,
    Stats,
    Usage,
    decide,
    eligibility,
    in_holdout,
    push_life,
)
from promotions.schedule import QuietWindow, TimeRange, WeeklyWindow, parse_days, parse_hhmm
from promotions.segments import Clause, SegmentRule, ShopperFacts, segments_of

# Tuesday 2026-11-24 19:00 in Shanghai (11:00 UTC): an evening in the mall.
EVENING = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
STARBUCKS_ZONE, STARBUCKS_TENANT = 738, 1
OFFER = Offer(id=10, tenant_id=STARBUCKS_TENANT, category="cafe", trigger="enter",
              zone_ids=frozenset({STARBUCKS_ZONE}))  # fmt: skip
OCCASION = Occasion("enter", STARBUCKS_ZONE, EVENING, level=0, zone_kind="restaurant",
                    zone_tenant_id=STARBUCKS_TENANT)  # fmt: skip
SHOPPER = Shopper(
    uuid.UUID(int=1), interests=frozenset({"cafe"}), segments=frozenset({"returning"})
)
RULES = Rules("Asia/Shanghai", max_pushes_per_day=3, min_gap=timedelta(minutes=30),
              quiet=QuietWindow(TimeRange(parse_hhmm("22:00"), parse_hhmm("09:00"))),
              tenant_daily_cap=100, holdout_share=0.0)  # fmt: skip


def at_local(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.mark.parametrize(
    ("offer", "occasion", "shopper", "usage", "reasons"),
    [
        ({}, {}, {}, {}, []),
        ({"status": "submitted"}, {}, {}, {}, ["status_submitted"]),
        ({"status": "paused"}, {}, {}, {}, ["status_paused"]),
        ({"starts_at": EVENING + timedelta(days=1)}, {}, {}, {}, ["outside_dates"]),
        ({"ends_at": EVENING}, {}, {}, {}, ["outside_dates"]),
        ({"trigger": "dwell"}, {}, {}, {}, ["other_trigger"]),
        ({}, {"zone_id": 5, "zone_tenant_id": None}, {}, {}, ["not_targeted"]),
        ({"zone_ids": frozenset(), "zone_kinds": frozenset({"restaurant"})}, {}, {}, {}, []),
        ({"levels": frozenset({2})}, {}, {}, {}, ["not_targeted"]),
        ({"whole_mall": True}, {"zone_id": None}, {}, {}, []),
        ({}, {"zone_id": None}, {}, {}, ["not_targeted"]),
        ({"windows": (WeeklyWindow(parse_days(["weekend"]),
                                   TimeRange(parse_hhmm("10:00"), parse_hhmm("22:00"))),)},
         {}, {}, {}, ["outside_window"]),
        ({"segments": frozenset({"lapsed"})}, {}, {}, {}, ["audience_segment"]),
        ({"interests": frozenset({"sports"})}, {}, {}, {}, ["audience_interest"]),
        ({"visitors": "new"}, {}, {}, {}, ["audience_new_only"]),
        ({"visitors": "returning"}, {}, {"first_visit": True}, {}, ["audience_returning_only"]),
        ({}, {}, {"marketing_consent": False}, {}, ["no_marketing_consent"]),
        ({}, {}, {"reachable": False}, {}, ["no_push_address"]),
        ({}, {"at": at_local(3)}, {}, {}, ["mall_quiet_hours"]),
        ({}, {"at": at_local(22, 30)}, {}, {}, ["mall_quiet_hours"]),
        # Uploaded late: an evening's walk sent at 3 a.m. is late and in the quiet hours; one
        # sent 10 minutes on is neither.
        ({}, {"decided_at": at_local(3) + timedelta(days=1)}, {}, {},
         ["late_event", "mall_quiet_hours"]),
        ({}, {"decided_at": EVENING + timedelta(minutes=16)}, {}, {}, ["late_event"]),
        ({}, {"decided_at": EVENING + timedelta(minutes=10)}, {}, {}, []),
        ({}, {"at": at_local(21, 55), "decided_at": at_local(22, 1)}, {}, {},
         ["mall_quiet_hours"]),
        ({}, {}, {"quiet": QuietWindow(TimeRange(parse_hhmm("18:00"), parse_hhmm("20:00")))}, {},
         ["shopper_quiet_hours"]),
        ({}, {}, {}, {"shopper_today": 3}, ["mall_daily_cap"]),
        ({}, {}, {}, {"shopper_last_push": EVENING - timedelta(minutes=10)},
         ["too_soon_after_last_push"]),
        ({}, {}, {}, {"tenant_today": {STARBUCKS_TENANT: 100}}, ["tenant_daily_cap"]),
        ({}, {}, {}, {"shopper_offer_today": {10: 1}}, ["shopper_daily_limit"]),
        ({"per_shopper_total": 2}, {}, {}, {"shopper_offer_total": {10: 2}},
         ["shopper_total_limit"]),
        ({"pushes_per_day": 50}, {}, {}, {"offer_today": {10: 50}}, ["offer_daily_limit"]),
        ({"budget_pushes": 500}, {}, {}, {"offer_total": {10: 500}}, ["budget_spent"]),
        ({}, {}, {}, {"redeemed": frozenset({10})}, ["already_redeemed"]),
    ],
)  # fmt: skip
def test_eligibility_reasons(
    offer: dict[str, Any],
    occasion: dict[str, Any],
    shopper: dict[str, Any],
    usage: dict[str, Any],
    reasons: list[str],
) -> None:
    assert eligibility(replace(OFFER, **offer), replace(OCCASION, **occasion),
                       replace(SHOPPER, **shopper), Usage(**usage), RULES) == reasons  # fmt: skip


def test_the_own_store_offer_wins_and_every_drop_is_explained() -> None:
    own = OFFER
    food_court = replace(OFFER, id=11, tenant_id=2, category="restaurant",
                         zone_ids=frozenset({STARBUCKS_ZONE}))  # fmt: skip
    paused = replace(OFFER, id=12, status="paused")
    choice = decide(OCCASION, SHOPPER, [food_court, paused, own], Usage(), RULES, Stats(),
                    np.random.default_rng(0))  # fmt: skip
    assert (choice.outcome, choice.offer_id) == ("sent", own.id)
    assert choice.dropped == {12: ["status_paused"]}
    assert set(choice.scores) == {10, 11}
    assert choice.scores[10]["proximity"] > choice.scores[11]["proximity"]
    assert choice.scores[10]["interest"] == 1.0


def test_nothing_eligible_says_the_main_reason() -> None:
    late = replace(OCCASION, at=at_local(3))
    choice = decide(late, SHOPPER, [OFFER], Usage(), RULES, Stats(), np.random.default_rng(0))
    assert (choice.outcome, choice.offer_id, choice.reason) == ("none", None, "mall_quiet_hours")
    nothing_here = replace(OCCASION, zone_id=99, zone_tenant_id=None, zone_kind="corridor")
    assert decide(nothing_here, SHOPPER, [OFFER], Usage(), RULES, Stats(),
                  np.random.default_rng(0)).reason == "no_offer_for_this_zone"  # fmt: skip
    assert decide(OCCASION, SHOPPER, [], Usage(), RULES, Stats(),
                  np.random.default_rng(0)).reason == "no_offers"  # fmt: skip


def test_a_late_upload_says_so() -> None:
    late = replace(OCCASION, decided_at=EVENING + timedelta(hours=15))
    choice = decide(late, SHOPPER, [OFFER], Usage(), RULES, Stats(), np.random.default_rng(0))
    assert (choice.outcome, choice.reason) == ("none", "late_event")


def test_a_store_entered_with_too_little_confidence_triggers_nothing() -> None:
    # The mall's min_confidence: a unit enter below it is no occasion for an offer; an area's
    # enter (no confidence: the ping itself) and a sure enter are.
    rules = replace(RULES, min_confidence=0.95)
    rng = np.random.default_rng(0)
    unsure = replace(OCCASION, confidence=0.92)
    choice = decide(unsure, SHOPPER, [OFFER], Usage(), rules, Stats(), rng)
    assert (choice.outcome, choice.reason) == ("none", "low_confidence")
    for occasion in (replace(OCCASION, confidence=0.97), replace(OCCASION, confidence=None)):
        assert decide(occasion, SHOPPER, [OFFER], Usage(), rules, Stats(), rng).outcome == "sent"
    assert decide(unsure, SHOPPER, [OFFER], Usage(), RULES, Stats(), rng).outcome == "sent"


@pytest.mark.parametrize(
    ("at", "decided_at", "shopper_quiet", "life"),
    [
        (EVENING, None, None, timedelta(minutes=15)),
        (EVENING, EVENING + timedelta(minutes=5), None, timedelta(minutes=10)),
        (EVENING, EVENING - timedelta(minutes=2), None, timedelta(minutes=15)),  # phone ahead
        (at_local(21, 50), at_local(21, 55), None, timedelta(minutes=5)),  # quiet from 22:00
        (EVENING, EVENING, ("19:05", "23:00"), timedelta(minutes=5)),
    ],
)  # fmt: skip
def test_a_push_lives_what_is_left_of_the_offer_and_not_into_the_night(
    at: datetime, decided_at: datetime | None, shopper_quiet: tuple[str, str] | None,
    life: timedelta,
) -> None:  # fmt: skip
    quiet = shopper_quiet and QuietWindow(TimeRange(*map(parse_hhmm, shopper_quiet)))
    occasion = replace(OCCASION, at=at, decided_at=decided_at)
    assert push_life(occasion, RULES, replace(SHOPPER, quiet=quiet or None)) == life


def test_the_bandit_prefers_what_converts() -> None:
    a, b = replace(OFFER, id=1), replace(OFFER, id=2)
    stats = Stats(sends={(1, "other"): 200, (2, "other"): 200},
                  redemptions={(1, "other"): 60, (2, "other"): 4})  # fmt: skip
    rng = np.random.default_rng(42)
    wins = [decide(OCCASION, SHOPPER, [a, b], Usage(), RULES, stats, rng).offer_id
            for _ in range(200)]  # fmt: skip
    assert wins.count(1) > 190
    unknown = Stats()  # no data: both get explored
    explored = {decide(OCCASION, SHOPPER, [a, b], Usage(), RULES, unknown, rng).offer_id
                for _ in range(50)}  # fmt: skip
    assert explored == {1, 2}


def test_fatigue_lowers_an_offer_seen_before() -> None:
    seen = decide(OCCASION, SHOPPER, [OFFER], Usage(shopper_offer_total={10: 0}), RULES, Stats(),
                  np.random.default_rng(1)).scores[10]  # fmt: skip
    per_day = replace(OFFER, per_shopper_per_day=None)
    again = decide(OCCASION, SHOPPER, [per_day], Usage(shopper_offer_total={10: 2}), RULES,
                   Stats(), np.random.default_rng(1)).scores[10]  # fmt: skip
    assert again["fatigue"] == -0.6
    assert seen["fatigue"] == 0.0


def test_holdout_is_deterministic_and_near_its_share() -> None:
    devices = [uuid.UUID(int=i) for i in range(20_000)]
    held = [in_holdout(d, 10, 0.10) for d in devices]
    assert held == [in_holdout(d, 10, 0.10) for d in devices]
    assert 0.09 < sum(held) / len(held) < 0.11
    rules = replace(RULES, holdout_share=0.10)
    device = next(d for d, h in zip(devices, held, strict=True) if h)
    choice = decide(OCCASION, replace(SHOPPER, device_id=device), [OFFER], Usage(), rules, Stats(),
                    np.random.default_rng(0))  # fmt: skip
    assert (choice.outcome, choice.offer_id) == ("holdout", 10)


NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def visits(*days_ago: float) -> list[datetime]:
    return sorted(NOW - timedelta(days=d) for d in days_ago)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ShopperFacts(visits(0)), {"new"}),
        (ShopperFacts(visits(10, 0)), {"returning"}),
        (ShopperFacts(visits(21, 14, 7, 3, 0)), {"returning", "frequent"}),
        (ShopperFacts(visits(90, 83, 76, 0)), {"returning", "lapsed"}),  # weekly, then 76 days
        (ShopperFacts(visits(30, 20, 10, 0)), {"returning", "frequent"}),  # steady: not lapsed
        (
            ShopperFacts(visits(12, 11, 10, 0)),
            {"returning", "frequent"},
        ),  # 10 days < 14: not lapsed
        (ShopperFacts(visits(5, 0), redemptions=2), {"returning", "high_value"}),
    ],
)
def test_segments(facts: ShopperFacts, expected: set[str]) -> None:
    assert segments_of(facts, NOW) == expected


def test_operator_defined_segment() -> None:
    rule = SegmentRule("browsers", (Clause("visits_30d", ">=", 2),
                                    Clause("redemptions", "==", 0)))  # fmt: skip
    gold = SegmentRule("gold", (Clause("loyalty_tier", "==", "gold"),))
    assert "browsers" in segments_of(ShopperFacts(visits(3, 0)), NOW, [rule])
    assert "browsers" not in segments_of(ShopperFacts(visits(3, 0), redemptions=1), NOW, [rule])
    assert "gold" in segments_of(ShopperFacts(visits(0), loyalty_tier="gold"), NOW, [gold])
    mixed = SegmentRule("odd", (Clause("loyalty_tier", ">", 3),))  # text vs number
    assert "odd" not in segments_of(ShopperFacts(visits(0), loyalty_tier="gold"), NOW, [mixed])


@pytest.mark.parametrize(
    ("locale", "title"),
    [("zh-CN", "咖啡"), ("zh-TW", "咖啡"), ("zh", "咖啡"), ("fr-FR", "Café"), ("de", "Coffee")],
)
def test_the_text_follows_the_device_locale(locale: str, title: str) -> None:
    from promotions.payload import localized

    translations = {
        "zh-CN": {"title": "咖啡", "body": "今晚"},
        "fr": {"title": "Café", "body": "Ce soir"},
    }
    assert localized("Coffee", "Tonight", translations, locale)[0] == title
