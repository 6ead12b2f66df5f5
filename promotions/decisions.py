"""The promotion engine at work: for each zone event, load what the decision needs
(promotions.inputs), decide (promotions.engine, pure), and store the decision with its reasons
(promotions.records), in the ingest transaction. Catalogs and the bandit's counts are cached per
mall between requests."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.db import utcnow
from core.devices.models import Device
from core.events import DecisionSummary, StoredEvent
from promotions.catalog import get_rules
from promotions.engine import Occasion, Offer, Stats, Usage, could_fire, decide, push_life
from promotions.inputs import (
    Card,
    card_of,
    custom_segments,
    load_stats,
    load_usage,
    local_day_start,
    mall_rules,
    offer_of,
    shopper_facts,
    shopper_of,
)
from promotions.models import Promotion
from promotions.records import decision_summary, enqueue_push, store_decision, store_idle
from promotions.schemas import MallRulesIn
from promotions.segments import segments_of


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
        now: Callable[[], datetime] | None = utcnow,
    ) -> None:
        # An offer for someone in the store is stale soon after the event: its push expires
        # push_ttl after it, and an event uploaded later than that is answered with no push.
        self.push_ttl = push_ttl
        # When decisions are made: the wall clock (the demo's simulated one; None: each event's
        # own instant)
        self._now = now
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
    ) -> dict[int, DecisionSummary]:
        answers: dict[int, DecisionSummary] = {}
        for mall_id in sorted({e.mall_id for e in events}):
            batch = [e for e in events if e.mall_id == mall_id]
            answers.update(self._decide_all(session, device_id, mall_id, batch))
        return answers

    def _decide_all(
        self, session: Session, device_id: uuid.UUID, mall_id: int, events: Sequence[StoredEvent]
    ) -> dict[int, DecisionSummary]:
        timezone = events[0].timezone
        catalog = self._catalog(session, mall_id)
        settings, offers, by_id = catalog.settings, catalog.offers, catalog.cards
        rules = replace(mall_rules(settings, timezone), shelf_life=self.push_ttl)
        answers: dict[int, DecisionSummary] = {}
        decided_at = self._now() if self._now else None
        occasions = {e.id: _occasion(e, decided_at) for e in events}
        # Most events (a corridor, a back-of-house area) are no promotion's business: their
        # decisions need no shopper facts, and are stored together in one statement.
        relevant = [e for e in events if any(could_fire(o, occasions[e.id]) for o in offers)]
        idle = [e for e in events if e not in relevant]
        if idle:
            answers |= store_idle(session, device_id, idle, bool(offers))
        # The device row only for events some offer could answer: most have none.
        device = session.get(Device, device_id) if relevant else None
        if device is None:
            return answers
        events = relevant
        now = max(e.at for e in events)
        facts = shopper_facts(session, device.id, now)
        segments = segments_of(facts, now, custom_segments(settings))
        shopper = shopper_of(device, facts, segments)
        budgeted = [o.id for o in offers if o.budget_pushes is not None]
        usage = load_usage(session, device.id, mall_id, local_day_start(now, timezone), budgeted)
        stats = self._stats_of(session, mall_id, offers)
        for event in events:
            occasion = occasions[event.id]
            with self._rng_lock:
                choice = decide(occasion, shopper, offers, usage, rules, stats, self._rng)
            promotion = by_id.get(choice.offer_id) if choice.offer_id else None
            decision = store_decision(session, device.id, event, choice, promotion, segments)
            if decision.outcome == "sent" and promotion is not None:
                ttl = push_life(occasion, rules, shopper)
                enqueue_push(session, decision, promotion, device.locale, ttl)
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


def _occasion(event: StoredEvent, decided_at: datetime | None) -> Occasion:
    return Occasion(
        event.kind,
        event.zone_id,
        event.at,
        event.level,
        event.zone_kind,
        event.zone_tenant_id,
        decided_at,
        event.confidence,
    )


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
