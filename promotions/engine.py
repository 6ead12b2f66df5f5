"""The promotion engine's decision, as a pure and explainable function.

decide(occasion, shopper, offers, usage, rules, stats, rng) -> Choice

1. Eligibility: every offer is checked against the occasion (trigger, target, level, an upload
   too late for an offer), its schedule (dates, weekly windows in the mall's time zone), its
   audience, the shopper's consent and quiet hours, the mall's quiet hours (then and now),
   every cap and budget, and past redemptions. Each dropped offer keeps the reasons it was
   dropped for.
2. Ranking of the eligible: relevance to the shopper's interests and dwell history, proximity
   (the tenant's own store beats a mall-wide target), audience fit, priority, fatigue, and a
   Thompson sample of the offer's conversion in the shopper's segment (Beta over redemptions and
   sends), so that the engine learns what converts.
3. At most one offer: sent, or held out (a fixed share of shopper-offer pairs, by hash).
4. Its variant: an offer may carry one per frequency-drop tier (a mild and a severe drop of
   the member's purchases against their own past); the member's tier picks it, and the choice
   is recorded with the tier and drop it rests on.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from promotions.schedule import QuietWindow, WeeklyWindow, in_windows, local_time, quiet_begins


@dataclass(frozen=True)
class Offer:
    """A promotion as the engine sees it."""

    id: int
    tenant_id: int
    category: str
    trigger: str  # enter | dwell | exit
    zone_ids: frozenset[int] = frozenset()
    zone_kinds: frozenset[str] = frozenset()  # every zone of these kinds (e.g. food_court)
    whole_mall: bool = False  # targets the mall visit itself
    levels: frozenset[int] | None = None  # only events on these levels
    status: str = "approved"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    windows: tuple[WeeklyWindow, ...] = ()
    segments: frozenset[str] = frozenset()  # any of these (empty: everyone)
    interests: frozenset[str] = frozenset()  # any of these (empty: everyone)
    visitors: str = "any"  # any | new | returning
    per_shopper_per_day: int | None = 1
    per_shopper_total: int | None = None
    pushes_per_day: int | None = None
    budget_pushes: int | None = None
    priority: int = 50
    tiers: frozenset[str] = frozenset()  # the tiers it has a variant for (mild, severe)


@dataclass(frozen=True)
class Occasion:
    """The zone event a decision is about."""

    kind: str  # enter | dwell | exit
    zone_id: int | None  # None: the mall visit
    at: datetime
    level: int | None = None
    zone_kind: str | None = None
    zone_tenant_id: int | None = None
    # When the push would leave: pings may be uploaded long after they were taken (a phone
    # without signal in the car park). None: at the event itself.
    decided_at: datetime | None = None
    confidence: float | None = None  # unit enters: how sure occupancy inference was

    @property
    def push_at(self) -> datetime:
        return self.decided_at or self.at


@dataclass(frozen=True)
class Shopper:
    device_id: uuid.UUID
    marketing_consent: bool = True
    reachable: bool = True  # has a push address
    interests: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    quiet: QuietWindow | None = None
    first_visit: bool = False
    dwell_minutes: Mapping[str, float] = field(default_factory=dict)  # by category
    tier: str | None = None  # the member's frequency-drop tier, from their purchases
    frequency_drop: float | None = None


@dataclass(frozen=True)
class Usage:
    """Pushes already sent, counted for the caps ('today' is the mall's local day)."""

    shopper_today: int = 0
    shopper_last_push: datetime | None = None
    tenant_today: Mapping[int, int] = field(default_factory=dict)
    offer_today: Mapping[int, int] = field(default_factory=dict)
    offer_total: Mapping[int, int] = field(default_factory=dict)
    shopper_offer_today: Mapping[int, int] = field(default_factory=dict)
    shopper_offer_total: Mapping[int, int] = field(default_factory=dict)
    redeemed: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Rules:
    timezone: str
    max_pushes_per_day: int = 3
    min_gap: timedelta = timedelta(minutes=30)
    quiet: QuietWindow | None = None
    tenant_daily_cap: int | None = None
    holdout_share: float = 0.10
    # An offer for someone in a zone is stale soon after: a later upload of the event is too late
    shelf_life: timedelta = timedelta(minutes=15)
    min_confidence: float = 0.0  # unit enters less sure than this trigger nothing


@dataclass(frozen=True)
class Stats:
    """Sends and redemptions per (offer, segment): what the bandit has learnt."""

    sends: Mapping[tuple[int, str], int] = field(default_factory=dict)
    redemptions: Mapping[tuple[int, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    outcome: str  # sent | holdout | none
    offer_id: int | None
    reason: str | None  # for none: why nothing was chosen
    dropped: dict[int, list[str]]
    scores: dict[int, dict[str, float]]
    variant: str | None = None  # the tier whose variant goes out; None: the offer itself
    variant_why: dict[str, Any] | None = None  # for an offer with variants: what chose it

    def explanation(self) -> dict[str, Any]:
        explained: dict[str, Any] = {
            "dropped": {str(k): v for k, v in self.dropped.items()},
            "scores": {str(k): v for k, v in self.scores.items()},
        }
        if self.variant_why is not None:
            explained["variant"] = self.variant_why
        return explained


def in_holdout(device_id: uuid.UUID, offer_id: int, share: float) -> bool:
    """Deterministic: the same shopper-offer pair is always in or always out."""
    digest = hashlib.sha256(f"{device_id}:{offer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def primary_segment(segments: frozenset[str]) -> str:
    """The segment the bandit learns per: the most specific one the shopper is in."""
    for name in ("lapsed", "high_value", "frequent", "new"):
        if name in segments:
            return name
    return "other"


def decide(
    occasion: Occasion,
    shopper: Shopper,
    offers: Sequence[Offer],
    usage: Usage,
    rules: Rules,
    stats: Stats,
    rng: np.random.Generator,
) -> Choice:
    dropped = {offer.id: eligibility(offer, occasion, shopper, usage, rules) for offer in offers}
    eligible = [offer for offer in offers if not dropped[offer.id]]
    dropped = {k: v for k, v in dropped.items() if v}
    if not eligible:
        return Choice("none", None, _main_reason(dropped, offers), dropped, {})
    scores = {offer.id: score(offer, occasion, shopper, usage, stats, rng) for offer in eligible}
    best = max(eligible, key=lambda o: (sum(scores[o.id].values()), -o.id))
    outcome = "holdout" if in_holdout(shopper.device_id, best.id, rules.holdout_share) else "sent"
    variant, why = variant_for(best, shopper)
    return Choice(outcome, best.id, None, dropped, scores, variant, why)


def push_life(occasion: Occasion, rules: Rules, shopper: Shopper) -> timedelta:
    """How long the push of a decision may wait for delivery: what is left of the offer's shelf
    life, ending before quiet hours begin. A push held up by FCM or an unreachable phone is
    dropped, not shown late or at night."""
    now = occasion.push_at
    life = rules.shelf_life - max(now - occasion.at, timedelta(0))
    quiet = quiet_begins(now, (rules.quiet, shopper.quiet), rules.timezone)
    return life if quiet is None else min(life, quiet - now)


def variant_for(offer: Offer, shopper: Shopper) -> tuple[str | None, dict[str, Any] | None]:
    """The variant of the member's tier, if the offer has one; the offer itself otherwise."""
    if not offer.tiers:
        return None, None
    variant = shopper.tier if shopper.tier in offer.tiers else None
    why = {
        "tier": shopper.tier,
        "frequency_drop": shopper.frequency_drop,
        "variant": variant or "base",
        "offer_tiers": sorted(offer.tiers),
    }
    return variant, why


def eligibility(
    offer: Offer, occasion: Occasion, shopper: Shopper, usage: Usage, rules: Rules
) -> list[str]:
    """Why the offer cannot be sent now; empty when it can. In a fixed order: the offer and
    the occasion, then the shopper and the hour, then the caps."""
    local = local_time(occasion.at, rules.timezone)
    # Quiet hours hold both when the shopper was there and when the push would light their
    # phone up: an evening's walk uploaded at 3 a.m. stays unsent.
    hours = (local, local_time(occasion.push_at, rules.timezone))
    return (
        _occasion_reasons(offer, occasion, local, rules)
        + _shopper_reasons(offer, shopper, rules, hours)
        + _cap_reasons(offer, occasion, usage, rules)
    )


def _occasion_reasons(offer: Offer, occasion: Occasion, local: datetime, rules: Rules) -> list[str]:
    at = occasion.at
    reasons = []
    if occasion.push_at - at > rules.shelf_life:
        reasons.append("late_event")
    if occasion.confidence is not None and occasion.confidence < rules.min_confidence:
        reasons.append("low_confidence")
    if offer.status != "approved":
        reasons.append(f"status_{offer.status}")
    if (offer.starts_at and at < offer.starts_at) or (offer.ends_at and at >= offer.ends_at):
        reasons.append("outside_dates")
    if offer.trigger != occasion.kind:
        reasons.append("other_trigger")
    if not _targets(offer, occasion):
        reasons.append("not_targeted")
    if not in_windows(offer.windows, local):
        reasons.append("outside_window")
    return reasons


def _shopper_reasons(
    offer: Offer, shopper: Shopper, rules: Rules, hours: tuple[datetime, ...]
) -> list[str]:
    reasons = []
    if offer.segments and not offer.segments & shopper.segments:
        reasons.append("audience_segment")
    if offer.interests and not offer.interests & shopper.interests:
        reasons.append("audience_interest")
    if offer.visitors == "new" and not shopper.first_visit:
        reasons.append("audience_new_only")
    if offer.visitors == "returning" and shopper.first_visit:
        reasons.append("audience_returning_only")
    if not shopper.marketing_consent:
        reasons.append("no_marketing_consent")
    elif not shopper.reachable:
        reasons.append("no_push_address")
    if rules.quiet and any(rules.quiet.contains(local) for local in hours):
        reasons.append("mall_quiet_hours")
    if shopper.quiet and any(shopper.quiet.contains(local) for local in hours):
        reasons.append("shopper_quiet_hours")
    return reasons


def _cap_reasons(offer: Offer, occasion: Occasion, usage: Usage, rules: Rules) -> list[str]:
    reasons = []
    if usage.shopper_today >= rules.max_pushes_per_day:
        reasons.append("mall_daily_cap")
    if usage.shopper_last_push and occasion.at - usage.shopper_last_push < rules.min_gap:
        reasons.append("too_soon_after_last_push")
    if rules.tenant_daily_cap is not None and (
        usage.tenant_today.get(offer.tenant_id, 0) >= rules.tenant_daily_cap
    ):
        reasons.append("tenant_daily_cap")
    limits = (
        (usage.shopper_offer_today, offer.per_shopper_per_day, "shopper_daily_limit"),
        (usage.shopper_offer_total, offer.per_shopper_total, "shopper_total_limit"),
        (usage.offer_today, offer.pushes_per_day, "offer_daily_limit"),
        (usage.offer_total, offer.budget_pushes, "budget_spent"),
    )
    reasons += [why for counts, limit, why in limits if _reached(counts.get(offer.id, 0), limit)]
    if offer.id in usage.redeemed:
        reasons.append("already_redeemed")
    return reasons


def score(
    offer: Offer,
    occasion: Occasion,
    shopper: Shopper,
    usage: Usage,
    stats: Stats,
    rng: np.random.Generator,
) -> dict[str, float]:
    """The ranking's components; the offer with the highest sum wins."""
    interest = 1.0 if offer.category in shopper.interests else 0.0
    dwell = min(1.0, shopper.dwell_minutes.get(offer.category, 0.0) / 30.0) * 0.5
    if occasion.zone_tenant_id == offer.tenant_id:
        proximity = 1.0  # the shopper is in this tenant's own store
    elif occasion.zone_id is not None and occasion.zone_id in offer.zone_ids:
        proximity = 0.6
    else:
        proximity = 0.2
    audience = 0.5 if offer.segments & shopper.segments else 0.0
    key = (offer.id, primary_segment(shopper.segments))
    sends, redemptions = stats.sends.get(key, 0), stats.redemptions.get(key, 0)
    conversion = float(rng.beta(1 + redemptions, 1 + max(0, sends - redemptions)))
    return {
        "interest": interest,
        "dwell": round(dwell, 4),
        "proximity": proximity,
        "audience": audience,
        "priority": offer.priority / 200.0,
        "fatigue": -0.3 * usage.shopper_offer_total.get(offer.id, 0),
        "conversion": round(2.0 * conversion, 4),
    }


def could_fire(offer: Offer, occasion: Occasion) -> bool:
    """Whether the offer is meant for this kind of event in this place at all."""
    return offer.trigger == occasion.kind and _targets(offer, occasion)


def _targets(offer: Offer, occasion: Occasion) -> bool:
    if occasion.zone_id is None:
        return offer.whole_mall
    if occasion.zone_id not in offer.zone_ids and occasion.zone_kind not in offer.zone_kinds:
        return False
    return offer.levels is None or occasion.level in offer.levels


def _reached(count: int, limit: int | None) -> bool:
    return limit is not None and count >= limit


# When nothing is eligible, the reason reported is the first of these that applies to every
# offer targeted at this occasion (what an operator asks first), else the commonest one.
_GLOBAL_REASONS = (
    "late_event",
    "low_confidence",
    "no_marketing_consent",
    "no_push_address",
    "mall_quiet_hours",
    "shopper_quiet_hours",
    "mall_daily_cap",
    "too_soon_after_last_push",
)


def _main_reason(dropped: dict[int, list[str]], offers: Sequence[Offer]) -> str:
    if not offers:
        return "no_offers"
    targeted = [r for r in dropped.values() if "not_targeted" not in r and "other_trigger" not in r]
    if not targeted:
        return "no_offer_for_this_zone"
    for reason in _GLOBAL_REASONS:
        if all(reason in reasons for reasons in targeted):
            return reason
    counts: dict[str, int] = {}
    for reasons in targeted:
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return max(counts, key=lambda r: (counts[r], r))
