"""The promotion engine at work: for each zone event, load what the decision needs, decide
(promotions.engine, pure), and store the decision with its reasons, in the ingest transaction.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from core.db import utcnow
from core.events import StoredEvent
from promotions.catalog import get_rules
from promotions.engine import (
    Choice,
    Occasion,
    Offer,
    Rules,
    Shopper,
    Stats,
    Usage,
    could_fire,
    decide,
    primary_segment,
)
from promotions.models import Decision, Promotion, Redemption
from promotions.payload import localized
from promotions.schedule import (
    QuietHours,
    TimeRange,
    WeeklyWindow,
    local_time,
    parse_days,
    parse_hhmm,
)
from promotions.schemas import MallRulesIn
from promotions.segments import Condition, SegmentRule, ShopperFacts, segments_of
from push.models import Device
from push.outbox import enqueue

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till


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


def card_of(promotion: Promotion) -> Card:
    return Card(promotion.id, promotion.tenant_id, promotion.title, promotion.body,
                dict(promotion.translations or {}), promotion.image_url, promotion.deep_link,
                (promotion.redemption or {}).get("codes") != "none")  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    fingerprint: str
    settings: MallRulesIn
    offers: list[Offer]
    cards: dict[int, Card]


# Changes whenever a promotion of the mall or its rules change (every write bumps updated_at),
# one cheap round trip instead of loading and parsing every approved promotion per batch.
_CATALOG_FINGERPRINT = text(
    """
    SELECT md5(
        coalesce((SELECT string_agg(id || ':' || status || ':' || updated_at::text, ','
                                    ORDER BY id)
                  FROM promotions WHERE mall_id = :m), '')
        || '|' || coalesce((SELECT updated_at::text FROM mall_rules WHERE mall_id = :m), ''))
    """
)


class PromotionEngine:
    """The EventSink that turns zone events into decisions."""

    def __init__(
        self,
        seed: int | None = None,
        push_ttl: timedelta = timedelta(minutes=15),
        stats_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.push_ttl = push_ttl  # an offer for someone in the store is stale soon after
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()  # request threads share the generator
        # The bandit's counts (all sends and redemptions of the mall's offers) are read at most
        # every stats_ttl_s per mall: a conversion estimate needs no per-event freshness, and
        # counting the whole history for every event grew with it.
        self.stats_ttl_s = stats_ttl_s
        self._clock = clock
        self._stats: dict[int, tuple[float, frozenset[int], Stats]] = {}
        self._catalogs: dict[int, Catalog] = {}

    def on_events(
        self, session: Session, device_id: uuid.UUID, events: Sequence[StoredEvent]
    ) -> dict[int, Any]:
        answers: dict[int, Any] = {}
        for mall_id in sorted({e.mall_id for e in events}):
            batch = [e for e in events if e.mall_id == mall_id]
            answers.update(self._decide_all(session, device_id, mall_id, batch))
        return answers

    def _decide_all(
        self, session: Session, device_id: uuid.UUID, mall_id: int, events: Sequence[StoredEvent]
    ) -> dict[int, Any]:
        timezone = events[0].timezone
        catalog = self._catalog(session, mall_id)
        settings, offers, by_id = catalog.settings, catalog.offers, catalog.cards
        rules = mall_rules(settings, timezone)
        answers: dict[int, Any] = {}
        occasions = {e.id: _occasion(e) for e in events}
        # Most events (a corridor, a back-of-house area) are no promotion's business: their
        # decisions need no shopper facts, and are stored together in one statement.
        relevant = [e for e in events if any(could_fire(o, occasions[e.id]) for o in offers)]
        idle = [e for e in events if e not in relevant]
        if idle:
            answers |= _store_idle(session, device_id, idle, bool(offers))
        # The device row only for events some offer could answer: most have none.
        device = session.get(Device, device_id) if relevant else None
        if device is None:
            return answers
        events = relevant
        now = max(e.at for e in events)
        facts = shopper_facts(session, device.id, now)
        segments = segments_of(facts, now, custom_segments(settings))
        shopper = Shopper(
            device_id=device.id,
            marketing_consent=device.consent_marketing_push,
            reachable=device.fcm_token is not None or device.fcm_fid is not None,
            interests=frozenset(device.interests)
            | {c for c, m in facts.dwell_minutes.items() if m >= 30},
            segments=segments,
            quiet=quiet_hours(device.quiet_hours),
            first_visit=facts.visits_total <= 1,
            dwell_minutes=facts.dwell_minutes,
        )
        budgeted = [o.id for o in offers if o.budget_pushes is not None]
        usage = load_usage(session, device.id, mall_id, local_day_start(now, timezone), budgeted)
        stats = self._stats_of(session, mall_id, offers)
        for event in events:
            occasion = occasions[event.id]
            with self._rng_lock:
                choice = decide(occasion, shopper, offers, usage, rules, stats, self._rng)
            promotion = by_id.get(choice.offer_id) if choice.offer_id else None
            decision = _store(session, device.id, event, choice, promotion, segments)
            if decision.outcome == "sent" and promotion is not None:
                _enqueue_push(session, decision, promotion, device.locale, self.push_ttl)
            if choice.outcome == "sent" and promotion is not None:
                usage = _count_push(usage, promotion, event.at)
            answers[event.id] = decision_summary(decision, promotion, device.locale)
        return answers

    def _catalog(self, session: Session, mall_id: int) -> Catalog:
        """The mall's rules and approved offers, read again only when they changed; checked
        once per transaction (an ingest group asks for each of its devices)."""
        key = ("mallcast.catalog", mall_id)
        transaction = session.get_transaction()
        checked = session.info.get(key)
        if checked is not None and checked[0] is transaction:
            fingerprint = checked[1]
        else:
            fingerprint = session.execute(_CATALOG_FINGERPRINT, {"m": mall_id}).scalar_one()
            session.info[key] = (session.get_transaction(), fingerprint)
        cached = self._catalogs.get(mall_id)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        promotions = session.scalars(
            select(Promotion).where(Promotion.mall_id == mall_id, Promotion.status == "approved")
        ).all()
        catalog = Catalog(
            fingerprint=fingerprint,
            settings=get_rules(session, mall_id),
            offers=[offer_of(p) for p in promotions],
            cards={p.id: card_of(p) for p in promotions},
        )
        self._catalogs[mall_id] = catalog
        return catalog

    def _stats_of(self, session: Session, mall_id: int, offers: Sequence[Offer]) -> Stats:
        ids = frozenset(o.id for o in offers)
        cached = self._stats.get(mall_id)
        if cached is not None and cached[1] == ids and self._clock() - cached[0] < self.stats_ttl_s:
            return cached[2]
        stats = load_stats(session, sorted(ids))
        self._stats[mall_id] = (self._clock(), ids, stats)
        return stats


_DECISIONS = Decision.metadata.tables["decisions"]
_INSERT_DECISIONS = insert(_DECISIONS).returning(_DECISIONS.c.id, sort_by_parameter_order=True)


def _store_idle(
    session: Session, device_id: uuid.UUID, events: Sequence[StoredEvent], any_offers: bool
) -> dict[int, Any]:
    reason = "no_offer_for_this_zone" if any_offers else "no_offers"
    rows = [
        {"event_id": e.id, "device_id": device_id, "mall_id": e.mall_id, "outcome": "none",
         "reason": reason, "segments": [], "explanation": {}, "at": e.at}
        for e in events
    ]  # fmt: skip
    ids = session.execute(_INSERT_DECISIONS, rows).scalars().all()
    return {
        event.id: {"decision_id": decision_id, "outcome": "none", "promotion_id": None,
                   "reason": reason}
        for event, decision_id in zip(events, ids, strict=True)
    }  # fmt: skip


def _occasion(event: StoredEvent) -> Occasion:
    return Occasion(event.kind, event.zone_id, event.at, event.level, event.zone_kind,
                    event.zone_tenant_id)  # fmt: skip


def _store(
    session: Session,
    device_id: uuid.UUID,
    event: StoredEvent,
    choice: Choice,
    promotion: Card | None,
    segments: frozenset[str],
) -> Decision:
    code = None
    if choice.outcome == "sent" and promotion and promotion.codes:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    decision = Decision(
        event_id=event.id,
        device_id=device_id,
        mall_id=event.mall_id,
        promotion_id=choice.offer_id,
        tenant_id=promotion.tenant_id if promotion else None,
        outcome=choice.outcome,
        reason=choice.reason,
        segments=sorted(segments),
        explanation=choice.explanation(),
        redemption_code=code,
        at=event.at,
    )
    session.add(decision)
    session.flush()
    return decision


def _enqueue_push(
    session: Session, decision: Decision, promotion: Card, locale: str, ttl: timedelta
) -> None:
    """The outbox row, in the transaction of the event and the decision."""
    title, body = localized(promotion.title, promotion.body, promotion.translations, locale)
    data = {"decision_id": str(decision.id), "promotion_id": str(promotion.id)}
    if promotion.deep_link:
        data["deep_link"] = promotion.deep_link
    if decision.redemption_code:
        data["code"] = decision.redemption_code
    enqueue(
        session, decision_id=decision.id, device_id=decision.device_id, title=title, body=body,
        data=data, collapse_key=f"promotion-{promotion.id}", image_url=promotion.image_url,
        created_at=utcnow(), ttl=ttl,
    )  # fmt: skip


def decision_summary(
    decision: Decision, promotion: Card | None, locale: str = "en"
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "decision_id": decision.id,
        "outcome": decision.outcome,
        "promotion_id": decision.promotion_id,
        "reason": decision.reason,
    }
    if promotion is not None:
        summary["title"], summary["body"] = localized(
            promotion.title, promotion.body, promotion.translations, locale
        )
    if decision.redemption_code:
        summary["code"] = decision.redemption_code
    return summary


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
    )


def mall_rules(settings: MallRulesIn, timezone: str) -> Rules:
    quiet = settings.quiet_hours
    return Rules(
        timezone=timezone,
        max_pushes_per_day=settings.max_pushes_per_day,
        min_gap=timedelta(minutes=settings.min_gap_minutes),
        quiet=QuietHours(TimeRange(parse_hhmm(quiet.start), parse_hhmm(quiet.end)))
        if quiet
        else None,
        tenant_daily_cap=settings.tenant_daily_cap,
        holdout_share=settings.holdout_share,
    )


def custom_segments(settings: MallRulesIn) -> list[SegmentRule]:
    return [
        SegmentRule(s.name, tuple(Condition(c.fact, c.op, c.value) for c in s.all))
        for s in settings.segments
    ]


def quiet_hours(value: dict[str, str] | None) -> QuietHours | None:
    if not value:
        return None
    return QuietHours(TimeRange(parse_hhmm(value["start"]), parse_hhmm(value["end"])))


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
        -- dwell by the category of the tenant whose store it was
        (SELECT coalesce(jsonb_object_agg(category, minutes), '{}') FROM (
            SELECT t.category, sum(e.dwell_s) / 60.0 AS minutes FROM zone_events e
            JOIN zones z ON z.id = e.zone_id JOIN tenants t ON t.id = z.tenant_id
            WHERE e.device_id = :d AND e.kind = 'exit' GROUP BY t.category) AS c) AS dwell
    """
)


def shopper_facts(session: Session, device_id: uuid.UUID, now: datetime) -> ShopperFacts:
    """What the shopper's history says, in one round trip."""
    row = session.execute(_FACTS, {"d": device_id, "now": now}).one()
    return ShopperFacts(
        visit_starts=list(row.visits),
        redemptions=int(row.redemptions),
        opens=int(row.opens),
        pushes=int(row.pushes),
        loyalty_tier=row.loyalty_tier,
        dwell_minutes={category: float(m or 0) for category, m in row.dwell.items()},
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
        select(Decision.promotion_id, Decision.segments, func.count(Decision.id),
               func.count(Redemption.id))
        .outerjoin(Redemption, Redemption.decision_id == Decision.id)
        .where(Decision.promotion_id.in_(offer_ids), Decision.outcome == "sent")
        .group_by(Decision.promotion_id, Decision.segments)
    ).all()  # fmt: skip
    sends: Counter[tuple[int, str]] = Counter()
    redemptions: Counter[tuple[int, str]] = Counter()
    for promotion_id, segments, n_sent, n_redeemed in rows:
        if promotion_id is None:
            continue
        key = (promotion_id, primary_segment(frozenset(segments or [])))
        sends[key] += n_sent
        redemptions[key] += n_redeemed
    return Stats(sends=dict(sends), redemptions=dict(redemptions))


def _count_push(usage: Usage, promotion: Card, at: datetime) -> Usage:
    """The usage after one more push in this batch (later events of it see the cap)."""
    pid, tid = promotion.id, promotion.tenant_id

    def plus(counts: Any, key: int) -> dict[int, int]:
        return {**counts, key: counts.get(key, 0) + 1}

    return Usage(
        shopper_today=usage.shopper_today + 1,
        shopper_last_push=at,
        tenant_today=plus(usage.tenant_today, tid),
        offer_today=plus(usage.offer_today, pid),
        offer_total=plus(usage.offer_total, pid),
        shopper_offer_today=plus(usage.shopper_offer_today, pid),
        shopper_offer_total=plus(usage.shopper_offer_total, pid),
        redeemed=usage.redeemed,
    )


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
