"""Outreach triggered by behaviour: a promotion with `trigger: segment` goes to a member when the
nightly lifecycle job files them under one of its segments (e.g. they became a lapsed buyer),
at the mall's next send window in its local time, with the caps, quiet hours, consent, holdout
and tier variants of any decision.

Each entry of a member into a segment is decided at most once per promotion (the decision's
`outreach_key`). A member the engine cannot reach for now (a cap, quiet hours, too soon after
another push) is tried again on the next run in the window; one it never can (no consent, no
push address, redeemed already, a spent budget) gets a stored "none" with its reason.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.devices.models import Device
from promotions.catalog import get_rules
from promotions.engine import Occasion, Offer, Rules, Stats, decide
from promotions.inputs import (
    Card,
    card_of,
    custom_segments,
    load_usage,
    local_day_start,
    mall_rules,
    offer_of,
    shopper_facts,
    shopper_of,
)
from promotions.models import Decision, Promotion
from promotions.records import enqueue_push, store_outreach
from promotions.schedule import (
    TimeRange,
    WeeklyWindow,
    local_time,
    next_window_start,
    parse_days,
    quiet_begins,
)
from promotions.schedule import parse_hhmm as hhmm
from promotions.schemas import MallRulesIn
from promotions.segments import segments_of

log = logging.getLogger("mallcast.outreach")

# A member who entered a segment longer ago than this is no news: no outreach for it.
FRESH_DAYS = 7
PUSH_TTL = timedelta(hours=3)  # about a send window: an evening's offer is stale by morning
# Reasons the engine gives that will not change by the next window: stored, never retried.
# (Quiet hours, caps and "too soon" pass: the member is tried again on the next run.)
_FINAL = {
    "no_marketing_consent",
    "no_push_address",
    "already_redeemed",
    "budget_spent",
    "shopper_total_limit",
    "audience_segment",
    "audience_interest",
    "audience_new_only",
    "audience_returning_only",
    "status_paused",
    "outside_dates",
}

_CANDIDATES = text(
    """
    SELECT s.member_id, md.device_id, s.since FROM member_standings s
    JOIN member_devices md ON md.member_id = s.member_id
    WHERE s.mall_id = :m AND s.segments ?| CAST(:segments AS text[])
    ORDER BY s.member_id, md.linked_at DESC
    """
)


@dataclass(frozen=True)
class Entry:
    """A member's entry into a segment that some promotion reaches out on."""

    member_id: int
    device_id: uuid.UUID
    segment: str
    day: date


def entries(
    since: dict[str, str], member_id: int, device_id: uuid.UUID, segments: set[str], today: date
) -> list[Entry]:
    return [
        Entry(member_id, device_id, segment, date.fromisoformat(day))
        for segment, day in sorted(since.items())
        if segment in segments and (today - date.fromisoformat(day)).days <= FRESH_DAYS
    ]


def reach_out(
    session: Session, mall_id: int, timezone: str, now: datetime, rng: np.random.Generator
) -> int:
    """Decide for every fresh entry of the mall's members; returns how many pushes were sent."""
    settings = get_rules(session, mall_id)
    windows = [
        WeeklyWindow(parse_days(w.days), TimeRange(hhmm(w.start), hhmm(w.end)))
        for w in settings.send_windows
    ]
    if next_window_start(now, windows, timezone) != now:  # outside the send windows
        return 0
    promotions = session.scalars(
        select(Promotion).where(
            Promotion.mall_id == mall_id,
            Promotion.status == "approved",
            Promotion.trigger == "segment",
        )
    ).all()
    if not promotions:
        return 0
    offers = {p.id: offer_of(p) for p in promotions}
    cards = {p.id: card_of(p) for p in promotions}
    wanted = {segment for offer in offers.values() for segment in offer.segments}
    today = local_time(now, timezone).date()
    rows = session.execute(_CANDIDATES, {"m": mall_id, "segments": sorted(wanted)}).all()
    done = _decided(session, list(offers), now)
    rules = mall_rules(settings, timezone)
    sent, seen = 0, set()
    for member_id, device_id, since in rows:
        if member_id in seen:  # one device a member: the one linked last
            continue
        seen.add(member_id)
        fresh = entries(since, member_id, device_id, wanted, today)
        pending = {
            (offer.id, entry): _key(offer.id, entry)
            for offer in offers.values()
            for entry in fresh
            if entry.segment in offer.segments
        }
        pending = {k: key for k, key in pending.items() if key not in done}
        if pending:
            sent += _decide(
                session, mall_id, device_id, pending, (offers, cards), settings, rules, now, rng
            )
    return sent


def _key(promotion_id: int, entry: Entry) -> str:
    return f"{promotion_id}:{entry.member_id}:{entry.segment}:{entry.day.isoformat()}"


def _decided(session: Session, promotion_ids: list[int], now: datetime) -> set[str]:
    """Keys decided already; a fresh entry is at most FRESH_DAYS old, and so is its decision
    (read from the recent days only: the keys of all time would grow with every run)."""
    keys = session.scalars(
        select(Decision.outreach_key).where(
            Decision.promotion_id.in_(promotion_ids),
            Decision.outreach_key.is_not(None),
            Decision.at >= now - timedelta(days=FRESH_DAYS + 2),
        )
    ).all()
    return {key for key in keys if key}


def _decide(
    session: Session,
    mall_id: int,
    device_id: uuid.UUID,
    pending: dict[tuple[int, Entry], str],
    catalog: tuple[dict[int, Offer], dict[int, Card]],
    settings: MallRulesIn,
    rules: Rules,
    now: datetime,
    rng: np.random.Generator,
) -> int:
    offers, cards = catalog
    device = session.get(Device, device_id)
    if device is None:
        return 0
    facts = shopper_facts(session, device.id, now)
    segments = segments_of(facts, now, custom_segments(settings))
    shopper = shopper_of(device, facts, segments)
    candidates = [offers[pid] for pid in sorted({pid for pid, _ in pending})]
    usage = load_usage(
        session,
        device.id,
        mall_id,
        local_day_start(now, rules.timezone),
        [o.id for o in candidates if o.budget_pushes is not None],
    )
    choice = decide(Occasion("segment", None, now), shopper, candidates, usage, rules, Stats(), rng)
    if choice.offer_id is None:
        for (pid, _), key in sorted(pending.items(), key=lambda kv: kv[1]):
            if set(choice.dropped.get(pid, [])) <= _FINAL:
                store_outreach(session, device.id, mall_id, key, now, choice, None, segments, pid)
        return 0
    key = min(key for (pid, _), key in pending.items() if pid == choice.offer_id)
    card = cards[choice.offer_id]
    decision = store_outreach(
        session, device.id, mall_id, key, now, choice, card, segments, card.id
    )
    if decision.outcome != "sent":
        return 0
    # Out before the quiet hours begin (the mall's or the shopper's), even if FCM or the phone
    # is late: an evening's offer must not light a phone up at night.
    quiet = quiet_begins(now, (rules.quiet, shopper.quiet), rules.timezone)
    ttl = PUSH_TTL if quiet is None else min(PUSH_TTL, quiet - now)
    enqueue_push(session, decision, card, device.locale, ttl)
    return 1
