"""Fix ingest: check, locate, advance presence, persist; one transaction per group.

A group is one or more devices' batches (api.ingest_gate gathers the requests that arrive
together). Round trips per group, whatever its size: lock the device rows and read their
presence, insert the pings, insert the events, upsert the presences (geofence.storage); then the
promotion engine's, for devices with events only. Everything between is worked out in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from core.errors import (
    Forbidden,
    InvalidInput,
    MallcastError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from core.events import DecisionSummary, EventSink, StoredEvent
from geofence.cache import MallDirectory, ZoneIndexCache
from geofence.index import NO_LEVEL, ZoneIndex
from geofence.pings import Fix, PingLimits, RejectedPing, parse_pings, phone_clock_offset
from geofence.presence import (
    Observation,
    PingFlag,
    PresenceRules,
    PresenceState,
    PresenceTracker,
    Transition,
)
from geofence.storage import LockedDevice, insert_events, insert_pings, lock_devices, save_presences


@dataclass(frozen=True)
class IngestLimits:
    batch_max: int = 500
    pings: PingLimits = field(default_factory=PingLimits)


@dataclass
class IngestResult:
    mall_id: int | None = None
    accepted: int = 0
    duplicates: int = 0
    outside: int = 0
    clock_offset_s: float = 0.0  # how far the pings' times were moved (the phone's clock is off)
    rejections: list[RejectedPing] = field(default_factory=list)
    flagged: list[tuple[int, PingFlag]] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    decisions: dict[int, DecisionSummary] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestRequest:
    """One device's batch, as a request brought it."""

    device_id: uuid.UUID
    raw: Sequence[Any]
    mall_hint: int | None = None
    token_version: int | None = None  # checked against the device row; None: checked already
    sent_at: float | None = None  # the phone's clock when it sent the batch


@dataclass
class _Plan:
    """What one request will write, worked out in memory before anything is written."""

    request: IngestRequest
    result: IngestResult
    pings: list[Fix] = field(default_factory=list)
    malls: list[int] = field(default_factory=list)
    flags: dict[int, PingFlag] = field(default_factory=dict)
    produced: list[tuple[int, Transition, ZoneIndex | None]] = field(default_factory=list)
    presence: tuple[int, PresenceState] | None = None


def ingest_group(
    session: Session,
    cache: ZoneIndexCache,
    requests: Sequence[IngestRequest],
    *,
    now: float,
    rules: PresenceRules,
    limits: IngestLimits,
    sink: EventSink,
) -> list[IngestResult | MallcastError]:
    """Several devices' batches in the caller's transaction, one outcome per request, in order.

    A request refused (revoked token, no consent, bad batch) gets its error and writes nothing;
    the others go on. Each device appears at most once in a group.
    """
    ids = [r.device_id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("a device appears twice in one ingest group")
    rows = lock_devices(session, ids)
    directory = cache.directory(session)
    outcomes: list[IngestResult | MallcastError] = []
    plans: list[_Plan] = []
    for request in requests:
        try:
            row = _admit(request, rows.get(request.device_id), directory, limits)
            plan = _plan(
                session, cache, directory, request, row, now=now, rules=rules, limits=limits
            )
        except MallcastError as refused:
            outcomes.append(refused)
            continue
        outcomes.append(plan.result)
        plans.append(plan)

    accepted = insert_pings(
        session,
        [
            (plan.request.device_id, fix, mall_id, plan.flags.get(fix.index, PingFlag.NONE))
            for plan in plans
            for fix, mall_id in zip(plan.pings, plan.malls, strict=True)
        ],
    )
    stored = insert_events(
        session, [(p.request.device_id, *item) for p in plans for item in p.produced]
    )
    received = datetime.fromtimestamp(now, UTC)
    save_presences(
        session, [(p.request.device_id, *p.presence, received) for p in plans if p.presence]
    )
    by_device: dict[uuid.UUID, list[StoredEvent]] = {}
    for event in stored:
        by_device.setdefault(event.device_id, []).append(event)
    for plan in plans:
        result = plan.result
        device_id = plan.request.device_id
        result.accepted = accepted.get(device_id, 0)
        result.duplicates += len(plan.pings) - result.accepted
        result.events = by_device.get(device_id, [])
        if result.events:
            result.decisions = sink.on_events(session, device_id, result.events)
    return outcomes


def _admit(
    request: IngestRequest,
    row: LockedDevice | None,
    directory: MallDirectory,
    limits: IngestLimits,
) -> LockedDevice:
    """Whether this request may write at all: a live token, consent, a batch within limits."""
    if row is None or (
        request.token_version is not None and row.token_version != request.token_version
    ):
        raise Unauthorized("unknown or revoked device token", code="invalid_credentials")
    if not row.consent_location:
        raise Forbidden(
            "this device has not consented to location processing; nothing was stored "
            "(PATCH /v1/devices/me with consents.location = true)",
            code="location_consent_required",
        )
    raw = request.raw
    if not raw:
        raise InvalidInput("the batch holds no pings", code="empty_batch")
    if len(raw) > limits.batch_max:
        raise PayloadTooLarge(
            f"{len(raw)} pings in one batch; at most {limits.batch_max}",
            code="batch_too_large",
            details={"pings": len(raw), "limit": limits.batch_max},
        )
    if request.mall_hint is not None and request.mall_hint not in directory.malls:
        raise NotFound(f"no mall with id {request.mall_hint}", code="unknown_mall")
    return row


def _plan(
    session: Session,
    cache: ZoneIndexCache,
    directory: MallDirectory,
    request: IngestRequest,
    row: LockedDevice,
    *,
    now: float,
    rules: PresenceRules,
    limits: IngestLimits,
) -> _Plan:
    """Parse one admitted request and advance its device's presence, in memory."""
    state = PresenceState.from_json(row.state) if row.state else PresenceState()
    offset = phone_clock_offset(state.clock_offset_s, request.sent_at, now)
    if offset != state.clock_offset_s:  # rarely: most phones' clocks are right
        state = replace(state, clock_offset_s=offset)
    pings, rejections = parse_pings(list(request.raw), now=now, limits=limits.pings, offset=offset)
    plan = _Plan(request, IngestResult(rejections=rejections, clock_offset_s=offset))
    pings, duplicates = _first_of_each_timestamp(pings)
    plan.result.duplicates += duplicates
    if not pings:
        return plan
    state_mall = row.mall_id

    found = directory.find(
        np.array([p.lon for p in pings]), np.array([p.lat for p in pings]), request.mall_hint
    ).tolist()
    for mall_id, segment in _segments(pings, found, state_mall):
        index = cache.index(session, mall_id)
        if index is None:  # deleted a moment ago
            continue
        segment = _known_levels(segment, index, plan.result.rejections)
        if not segment:
            continue
        if state_mall is not None and state_mall != mall_id:
            previous = cache.index(session, state_mall) or index
            ended = PresenceTracker(rules, previous).leave(state, reason="mall_change")
            plan.produced.extend((state_mall, event, previous) for event in ended)
        state_mall = mall_id
        where = index.locate([p.lon for p in segment], [p.lat for p in segment], _levels(segment))
        observations = [
            Observation(p.ts, p.lon, p.lat, p.accuracy_m, p.level, zones)
            for p, zones in zip(segment, where, strict=True)
        ]
        advance = PresenceTracker(rules, index).advance(state, observations)
        state = advance.state
        plan.flags.update((p.index, flag) for p, flag in zip(segment, advance.flags, strict=True))
        plan.produced.extend((mall_id, event, index) for event in advance.events)

    refused = {r.index for r in plan.result.rejections}
    stored = [(p, m) for p, m in zip(pings, found, strict=True) if m and p.index not in refused]
    plan.pings = [p for p, _ in stored]
    plan.malls = [m for _, m in stored]
    result = plan.result
    result.outside = sum(1 for m in found if not m)
    result.rejections.sort(key=lambda r: r.index)
    result.flagged = sorted((i, f) for i, f in plan.flags.items() if f not in (PingFlag.NONE,))
    result.mall_id = state_mall
    if state_mall is not None and state.last_ts is not None:
        plan.presence = (state_mall, state)
    return plan


def _known_levels(
    segment: list[Fix], index: ZoneIndex, rejections: list[RejectedPing]
) -> list[Fix]:
    """The pings on a floor the mall has; the others are rejected one by one (stored, one on
    level 199 would enter the mall on a floor it does not have)."""
    kept = []
    for ping in segment:
        if ping.level is None or index.has_level(ping.level):
            kept.append(ping)
        else:
            floors = sorted(index.floors)
            rejections.append(
                RejectedPing(
                    ping.index,
                    "unknown_level",
                    f"level {ping.level} is not a level of mall "
                    f"{index.mall_id} (its levels: {floors})",
                )
            )
    return kept


def _first_of_each_timestamp(pings: list[Fix]) -> tuple[list[Fix], int]:
    """A batch holding two pings with the same time keeps the first: the second is a duplicate."""
    seen: set[float] = set()
    kept = []
    for ping in pings:
        if ping.ts not in seen:
            seen.add(ping.ts)
            kept.append(ping)
    return kept, len(pings) - len(kept)


def _segments(
    pings: list[Fix], found: list[int], state_mall: int | None
) -> list[tuple[int, list[Fix]]]:
    """Runs of pings, in time order, that belong to one mall.

    A ping outside every mall still counts for the mall the device is in (it may end the visit)
    but, being outside, is not stored; with no visit under way it is ignored.
    """
    segments: list[tuple[int, list[Fix]]] = []
    current = state_mall
    for ping, mall_id in sorted(zip(pings, found, strict=True), key=lambda pair: pair[0].ts):
        effective = mall_id or current
        if effective is None:
            continue
        if segments and segments[-1][0] == effective:
            segments[-1][1].append(ping)
        else:
            segments.append((effective, [ping]))
        current = effective
    return segments


def _levels(pings: Sequence[Fix]) -> list[int]:
    return [NO_LEVEL if p.level is None else p.level for p in pings]
