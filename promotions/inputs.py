"""What a decision needs, read from the database: promotions and rules mapped to the engine's
plain types (promotions.engine), and the shopper's history and usage, in few round trips."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.devices.models import Device
from promotions.engine import Offer, Rules, Shopper, Stats, Usage, primary_segment
from promotions.models import Decision, Promotion, Redemption
from promotions.schedule import (
    QuietWindow,
    TimeRange,
    WeeklyWindow,
    local_time,
    parse_days,
    parse_hhmm,
)
from promotions.schemas import MallRulesIn
from promotions.segments import Clause, SegmentRule, ShopperFacts


@dataclass(frozen=True)
class Card:
    """What a decision needs of a promotion: read once per catalog, shared between requests
    (an ORM object may not be)."""

    id: int
    tenant_id: int
    title: str
    body: str
    translations: dict[str, Any]
    image_url: str | None
    deep_link: str | None
    codes: bool  # a redemption code goes with each push
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # by tier

    def text(self, variant: str | None) -> tuple[str, str, dict[str, Any]]:
        """Title, body and translations of the variant that goes out (the offer's own: None)."""
        chosen = self.variants.get(variant) if variant else None
        if chosen is None:
            return self.title, self.body, self.translations
        return chosen["title"], chosen["body"], chosen.get("translations", {})


def card_of(promotion: Promotion) -> Card:
    return Card(
        promotion.id,
        promotion.tenant_id,
        promotion.title,
        promotion.body,
        dict(promotion.translations or {}),
        promotion.image_url,
        promotion.deep_link,
        (promotion.redemption or {}).get("codes") != "none",
        {v["tier"]: v for v in promotion.variants or []},
    )


def offer_of(promotion: Promotion) -> Offer:
    targets, schedule = promotion.targets, promotion.schedule or {}
    audience, limits = promotion.audience or {}, promotion.limits or {}
    return Offer(
        id=promotion.id,
        tenant_id=promotion.tenant_id,
        category=promotion.category,
        trigger=promotion.trigger,
        zone_ids=frozenset(targets.get("zones", [])),
        zone_kinds=frozenset(targets.get("kinds", [])),
        # A member entering a segment is no place: the mall is what such an offer targets.
        whole_mall=bool(targets.get("mall")),
        levels=frozenset(targets["levels"]) if targets.get("levels") is not None else None,
        status=promotion.status,
        starts_at=_instant(schedule.get("starts_at")),
        ends_at=_instant(schedule.get("ends_at")),
        windows=tuple(
            WeeklyWindow(
                parse_days(w["days"]), TimeRange(parse_hhmm(w["start"]), parse_hhmm(w["end"]))
            )
            for w in schedule.get("windows", [])
        ),
        segments=frozenset(audience.get("segments", [])),
        interests=frozenset(i.lower() for i in audience.get("interests", [])),
        visitors=audience.get("visitors", "any"),
        per_shopper_per_day=limits.get("per_shopper_per_day", 1),
        per_shopper_total=limits.get("per_shopper_total"),
        pushes_per_day=limits.get("pushes_per_day"),
        budget_pushes=limits.get("budget_pushes"),
        priority=promotion.priority,
        tiers=frozenset(v["tier"] for v in promotion.variants or []),
    )


def mall_rules(settings: MallRulesIn, timezone: str) -> Rules:
    quiet = settings.quiet_hours
    return Rules(
        timezone=timezone,
        max_pushes_per_day=settings.max_pushes_per_day,
        min_gap=timedelta(minutes=settings.min_gap_minutes),
        quiet=QuietWindow(TimeRange(parse_hhmm(quiet.start), parse_hhmm(quiet.end)))
        if quiet
        else None,
        tenant_daily_cap=settings.tenant_daily_cap,
        holdout_share=settings.holdout_share,
        min_confidence=settings.min_confidence,
    )


def custom_segments(settings: MallRulesIn) -> list[SegmentRule]:
    return [
        SegmentRule(s.name, tuple(Clause(c.fact, c.op, c.value) for c in s.all))
        for s in settings.segments
    ]


def quiet_hours(value: dict[str, str] | None) -> QuietWindow | None:
    if not value:
        return None
    return QuietWindow(TimeRange(parse_hhmm(value["start"]), parse_hhmm(value["end"])))


def local_day_start(moment: datetime, timezone: str) -> datetime:
    local = local_time(moment, timezone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


_FACTS = text(
    """
    SELECT
        ARRAY(SELECT at FROM zone_events WHERE device_id = :d AND subject = 'mall'
              AND kind = 'enter' AND at <= :now ORDER BY at) AS visits,
        (SELECT count(*) FROM decisions WHERE device_id = :d AND outcome = 'sent') AS pushes,
        (SELECT count(opened_at) FROM decisions WHERE device_id = :d) AS opens,
        (SELECT count(*) FROM redemptions WHERE device_id = :d) AS redemptions,
        (SELECT loyalty_tier FROM devices WHERE id = :d) AS loyalty_tier,
        -- where the member linked to this device stands by their purchases (nightly)
        (SELECT jsonb_build_object('segments', s.segments, 'tier', s.tier,
                                   'frequency_drop', s.frequency_drop)
         FROM member_devices md JOIN member_standings s ON s.member_id = md.member_id
         WHERE md.device_id = :d) AS standing,
        -- dwell by the category of the tenant whose store it was
        (SELECT coalesce(jsonb_object_agg(category, minutes), '{}') FROM (
            SELECT t.category, sum(e.dwell_s) / 60.0 AS minutes FROM zone_events e
            JOIN zones z ON z.id = e.zone_id JOIN tenants t ON t.id = z.tenant_id
            WHERE e.device_id = :d AND e.kind = 'exit' GROUP BY t.category) AS c) AS dwell
    """
)


def shopper_of(device: Device, facts: ShopperFacts, segments: frozenset[str]) -> Shopper:
    """The shopper as the engine sees them: their device's settings and their history."""
    return Shopper(
        device_id=device.id,
        marketing_consent=device.consent_marketing_push,
        reachable=device.fcm_token is not None or device.fcm_fid is not None,
        interests=frozenset(device.interests)
        | {c for c, m in facts.dwell_minutes.items() if m >= 30},
        segments=segments,
        quiet=quiet_hours(device.quiet_hours),
        first_visit=facts.visits_total <= 1,
        dwell_minutes=facts.dwell_minutes,
        tier=facts.tier,
        frequency_drop=facts.frequency_drop,
    )


def shopper_facts(session: Session, device_id: uuid.UUID, now: datetime) -> ShopperFacts:
    """What the shopper's history says, in one round trip."""
    row = session.execute(_FACTS, {"d": device_id, "now": now}).one()
    standing = row.standing or {}
    return ShopperFacts(
        visit_starts=list(row.visits),
        redemptions=int(row.redemptions),
        opens=int(row.opens),
        pushes=int(row.pushes),
        loyalty_tier=row.loyalty_tier,
        dwell_minutes={category: float(m or 0) for category, m in row.dwell.items()},
        purchase_segments=frozenset(standing.get("segments", [])),
        tier=standing.get("tier"),
        frequency_drop=standing.get("frequency_drop"),
    )


_SHOPPER_USAGE = text(
    """
    SELECT promotion_id, at, NULL::bigint AS redeemed FROM decisions
    WHERE device_id = :d AND outcome = 'sent' AND promotion_id IS NOT NULL
    UNION ALL
    SELECT NULL, NULL, promotion_id FROM redemptions WHERE device_id = :d
    """
)
# Today's sends of the mall (the partial index of sends keeps this to today's pushes, not all
# decisions); lifetime totals only for the offers that have a budget.
_MALL_USAGE = text(
    """
    SELECT tenant_id, promotion_id, count(*) AS today, NULL::bigint AS total FROM decisions
    WHERE mall_id = :m AND outcome = 'sent' AND at >= :day
    GROUP BY tenant_id, promotion_id
    UNION ALL
    SELECT NULL, promotion_id, NULL, count(*) FROM decisions
    WHERE promotion_id = ANY(CAST(:budgeted AS bigint[])) AND outcome = 'sent'
    GROUP BY promotion_id
    """
)


def load_usage(
    session: Session,
    device_id: uuid.UUID,
    mall_id: int,
    day_start: datetime,
    budgeted: Sequence[int] = (),
) -> Usage:
    """Pushes so far, for the caps: the shopper's, and the mall's today (two round trips)."""
    pushes: list[tuple[int, datetime]] = []
    redeemed: set[int] = set()
    for promotion_id, at, redeemed_id in session.execute(_SHOPPER_USAGE, {"d": device_id}):
        if redeemed_id is not None:
            redeemed.add(redeemed_id)
        else:
            pushes.append((promotion_id, at))
    today = [(p, at) for p, at in pushes if at >= day_start]
    tenant_today: Counter[int] = Counter()
    offer_today: dict[int, int] = {}
    offer_total: dict[int, int] = {}
    rows = session.execute(
        _MALL_USAGE, {"m": mall_id, "day": day_start, "budgeted": list(budgeted)}
    )
    for tenant_id, promotion_id, n_today, n_total in rows:
        if n_total is not None:
            offer_total[promotion_id] = n_total
            continue
        if tenant_id is not None:
            tenant_today[tenant_id] += n_today
        if promotion_id is not None:
            offer_today[promotion_id] = offer_today.get(promotion_id, 0) + n_today
    return Usage(
        shopper_today=len(today),
        shopper_last_push=max((at for _, at in pushes), default=None),
        tenant_today=dict(tenant_today),
        offer_today=offer_today,
        offer_total=offer_total,
        shopper_offer_today=dict(Counter(p for p, _ in today)),
        shopper_offer_total=dict(Counter(p for p, _ in pushes)),
        redeemed=frozenset(redeemed),
    )


def load_stats(session: Session, offer_ids: Sequence[int]) -> Stats:
    """Sends and redemptions per (offer, primary segment), for the bandit."""
    if not offer_ids:
        return Stats()
    rows = session.execute(
        select(
            Decision.promotion_id,
            Decision.segments,
            func.count(Decision.id),
            func.count(Redemption.id),
        )
        .outerjoin(Redemption, Redemption.decision_id == Decision.id)
        .where(Decision.promotion_id.in_(offer_ids), Decision.outcome == "sent")
        .group_by(Decision.promotion_id, Decision.segments)
    ).all()
    sends: Counter[tuple[int, str]] = Counter()
    redemptions: Counter[tuple[int, str]] = Counter()
    for promotion_id, segments, n_sent, n_redeemed in rows:
        if promotion_id is None:
            continue
        key = (promotion_id, primary_segment(frozenset(segments or [])))
        sends[key] += n_sent
        redemptions[key] += n_redeemed
    return Stats(sends=dict(sends), redemptions=dict(redemptions))


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
