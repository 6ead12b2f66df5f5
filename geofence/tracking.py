"""Ping ingest: check, locate, advance presence, persist; one transaction per group.

A group is one or more devices' batches (api.ingest gathers the requests that arrive together).
Round trips per group, whatever its size: lock the device rows and read their presence, insert
the pings (one statement), insert the events (one statement), upsert the presences (one
statement); then the promotion engine's, for devices with events only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from core.errors import (
    Forbidden,
    InvalidInput,
    MallcastError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from core.events import EventSink, StoredEvent
from geofence.cache import MallDirectory, ZoneIndexCache
from geofence.index import MALL, NO_LEVEL, ZoneIndex
from geofence.models import Presence
from geofence.models import ZoneEvent as ZoneEventRow
from geofence.pings import Ping, PingLimits, Rejection, parse_pings
from geofence.presence import (
    Observation,
    PingFlag,
    PresenceRules,
    PresenceState,
    PresenceTracker,
    ZoneEvent,
)
from push.models import Device

# Locking the device rows orders concurrent batches of one device; in id order, so that two
# groups never wait on each other's devices in opposite orders. NO KEY UPDATE: without blocking
# the foreign-key checks (KEY SHARE) of other transactions writing rows that reference them.
_LOCK = text(
    "SELECT d.id, d.token_version, d.consent_location FROM devices d "
    "WHERE d.id = ANY(CAST(:ids AS uuid[])) ORDER BY d.id FOR NO KEY UPDATE"
)
# Read in a statement of its own, after the locks are held: under READ COMMITTED a statement
# sees the database as it was when it began, so a presence read by the locking statement itself
# would predate the commit it waited for, and writing it back would undo that commit.
_READ_PRESENCE = text(
    "SELECT device_id, mall_id, state FROM presence WHERE device_id = ANY(CAST(:ids AS uuid[]))"
)
# One statement for a whole batch, whatever its size: arrays in, unnest, skip known pings.
_INSERT_PINGS = text(
    "INSERT INTO pings (device_id, ts, mall_id, received_at, lon, lat, accuracy_m, level, "
    "speed_mps, heading_deg, flags) "
    "SELECT p.device_id, p.ts, p.mall_id, now(), p.lon, p.lat, p.accuracy_m, p.level, "
    "p.speed_mps, p.heading_deg, p.flags "
    "FROM unnest(CAST(:device_id AS uuid[]), CAST(:ts AS timestamptz[]), "
    "CAST(:mall_id AS bigint[]), "
    "CAST(:lon AS float8[]), CAST(:lat AS float8[]), CAST(:accuracy_m AS real[]), "
    "CAST(:level AS smallint[]), CAST(:speed_mps AS real[]), CAST(:heading_deg AS real[]), "
    "CAST(:flags AS smallint[])) "
    "AS p(device_id, ts, mall_id, lon, lat, accuracy_m, level, speed_mps, heading_deg, flags) "
    "ON CONFLICT DO NOTHING RETURNING device_id"
)
# Core, not the ORM's bulk path (several times its Python cost per row); ids in row order.
_EVENTS = ZoneEventRow.metadata.tables["zone_events"]
_INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_UPSERT_PRESENCE = text(
    "INSERT INTO presence (device_id, mall_id, last_ping_at, state, updated_at) "
    "SELECT * FROM unnest(CAST(:device_id AS uuid[]), CAST(:mall_id AS bigint[]), "
    "CAST(:last_ping_at AS timestamptz[]), CAST(:state AS jsonb[]), "
    "CAST(:updated_at AS timestamptz[])) "
    "ON CONFLICT (device_id) DO UPDATE SET mall_id = excluded.mall_id, "
    "last_ping_at = excluded.last_ping_at, state = excluded.state, "
    "updated_at = excluded.updated_at"
)


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
    rejections: list[Rejection] = field(default_factory=list)
    flagged: list[tuple[int, PingFlag]] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    decisions: dict[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestRequest:
    """One device's batch, as a request brought it."""

    device_id: uuid.UUID
    raw: Sequence[Any]
    mall_hint: int | None = None
    token_version: int | None = None  # checked against the device row; None: checked already


@dataclass(frozen=True)
class _Locked:
    """A device row locked for this transaction, with its presence read after the lock."""

    device: Row[Any]
    presence: Row[Any] | None

    @property
    def token_version(self) -> int:
        return int(self.device.token_version)

    @property
    def consent_location(self) -> bool:
        return bool(self.device.consent_location)

    @property
    def mall_id(self) -> int | None:
        return None if self.presence is None else int(self.presence.mall_id)

    @property
    def state(self) -> dict[str, Any] | None:
        return None if self.presence is None else dict(self.presence.state)


@dataclass
class _Plan:
    """What one request will write, worked out in memory before anything is written."""

    request: IngestRequest
    result: IngestResult
    pings: list[Ping] = field(default_factory=list)
    malls: list[int] = field(default_factory=list)
    flags: dict[int, PingFlag] = field(default_factory=dict)
    produced: list[tuple[int, ZoneEvent, ZoneIndex | None]] = field(default_factory=list)
    presence: tuple[int, PresenceState] | None = None


def ingest_pings(
    session: Session,
    cache: ZoneIndexCache,
    device: Device,
    raw: Sequence[Any],
    *,
    mall_hint: int | None,
    now: float,
    rules: PresenceRules,
    limits: IngestLimits,
    sink: EventSink,
) -> IngestResult:
    """One device's batch, the device already authenticated; raises what the group returns."""
    request = IngestRequest(device.id, raw, mall_hint)
    (outcome,) = ingest_group(
        session, cache, [request], now=now, rules=rules, limits=limits, sink=sink
    )
    if isinstance(outcome, MallcastError):
        raise outcome
    return outcome


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
    devices = {row.id: row for row in session.execute(_LOCK, {"ids": ids})}
    presences = {row.device_id: row for row in session.execute(_READ_PRESENCE, {"ids": ids})}
    rows = {
        device_id: _Locked(device, presences.get(device_id))
        for device_id, device in devices.items()
    }
    directory = cache.directory(session)
    outcomes: list[IngestResult | MallcastError] = []
    plans: list[_Plan] = []
    for request in requests:
        try:
            plan = _plan(session, cache, directory, request, rows.get(request.device_id),
                         now=now, rules=rules, limits=limits)  # fmt: skip
        except MallcastError as refused:
            outcomes.append(refused)
            continue
        outcomes.append(plan.result)
        plans.append(plan)

    accepted = _insert_pings(session, plans)
    stored = _insert_events(session, [(p.request.device_id, *item) for p in plans
                                      for item in p.produced])  # fmt: skip
    received = datetime.fromtimestamp(now, UTC)
    _save_presences(
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


def _plan(
    session: Session,
    cache: ZoneIndexCache,
    directory: MallDirectory,
    request: IngestRequest,
    row: _Locked | None,
    *,
    now: float,
    rules: PresenceRules,
    limits: IngestLimits,
) -> _Plan:
    """Check one request and advance its device's presence, in memory."""
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
    mall_hint = request.mall_hint
    if mall_hint is not None and mall_hint not in directory.malls:
        raise NotFound(f"no mall with id {mall_hint}", code="unknown_mall")

    pings, rejections = parse_pings(list(raw), now=now, limits=limits.pings)
    plan = _Plan(request, IngestResult(rejections=rejections))
    pings, duplicates = _first_of_each_timestamp(pings)
    plan.result.duplicates += duplicates
    if not pings:
        return plan
    state = PresenceState.from_json(row.state) if row.state else PresenceState()
    state_mall = row.mall_id

    found = directory.find(
        np.array([p.lon for p in pings]), np.array([p.lat for p in pings]), mall_hint
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


def _known_levels(segment: list[Ping], index: ZoneIndex, rejections: list[Rejection]) -> list[Ping]:
    """The pings on a floor the mall has; the others are rejected one by one (stored, one on
    level 199 would enter the mall on a floor it does not have)."""
    kept = []
    for ping in segment:
        if ping.level is None or index.has_level(ping.level):
            kept.append(ping)
        else:
            floors = sorted(index.floors)
            rejections.append(Rejection(ping.index, "unknown_level",
                                        f"level {ping.level} is not a level of mall "
                                        f"{index.mall_id} (its levels: {floors})"))  # fmt: skip
    return kept


def _first_of_each_timestamp(pings: list[Ping]) -> tuple[list[Ping], int]:
    """A batch holding two pings with the same time keeps the first: the second is a duplicate."""
    seen: set[float] = set()
    kept = []
    for ping in pings:
        if ping.ts not in seen:
            seen.add(ping.ts)
            kept.append(ping)
    return kept, len(pings) - len(kept)


def _segments(
    pings: list[Ping], found: list[int], state_mall: int | None
) -> list[tuple[int, list[Ping]]]:
    """Runs of pings, in time order, that belong to one mall.

    A ping outside every mall still counts for the mall the device is in (it may end the visit)
    but, being outside, is not stored; with no visit under way it is ignored.
    """
    segments: list[tuple[int, list[Ping]]] = []
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


def _levels(pings: Sequence[Ping]) -> list[int]:
    return [NO_LEVEL if p.level is None else p.level for p in pings]


def _insert_pings(session: Session, plans: Sequence[_Plan]) -> dict[uuid.UUID, int]:
    """Insert in one statement; a ping stored before is skipped. Returns how many are new."""
    pings = [(plan.request.device_id, p, m, plan.flags) for plan in plans
             for p, m in zip(plan.pings, plan.malls, strict=True)]  # fmt: skip
    if not pings:
        return {}
    columns = {
        "device_id": [device for device, *_ in pings],
        "ts": [datetime.fromtimestamp(p.ts, UTC) for _, p, _, _ in pings],
        "mall_id": [m for _, _, m, _ in pings],
        "lon": [p.lon for _, p, _, _ in pings],
        "lat": [p.lat for _, p, _, _ in pings],
        "accuracy_m": [p.accuracy_m for _, p, _, _ in pings],
        "level": [p.level for _, p, _, _ in pings],
        "speed_mps": [p.speed_mps for _, p, _, _ in pings],
        "heading_deg": [p.heading_deg for _, p, _, _ in pings],
        "flags": [int(flags.get(p.index, PingFlag.NONE)) for _, p, _, flags in pings],
    }
    accepted: dict[uuid.UUID, int] = {}
    for (device,) in session.execute(_INSERT_PINGS, columns):
        accepted[device] = accepted.get(device, 0) + 1
    return accepted


def _insert_events(
    session: Session,
    produced: Sequence[tuple[uuid.UUID, int, ZoneEvent, ZoneIndex | None]],
) -> list[StoredEvent]:
    """One statement for the events of every device; returned in the order given."""
    if not produced:
        return []
    rows: list[dict[str, Any]] = [
        {
            "device_id": device_id,
            "mall_id": mall_id,
            "subject": "mall" if event.zone_id == MALL else "zone",
            "zone_id": None if event.zone_id == MALL else event.zone_id,
            "kind": event.kind,
            "at": datetime.fromtimestamp(event.at, UTC),
            "dwell_s": event.dwell_s,
            "level": event.level,
            "reason": event.reason,
        }
        for device_id, mall_id, event, _ in produced
    ]
    ids = session.execute(_INSERT_EVENTS, rows).scalars().all()
    stored = []
    for event_id, (device_id, mall_id, event, index) in zip(ids, produced, strict=True):
        zone = index.zones.get(event.zone_id) if index else None
        stored.append(
            StoredEvent(
                id=event_id,
                device_id=device_id,
                mall_id=mall_id,
                zone_id=None if event.zone_id == MALL else event.zone_id,
                kind=event.kind,
                at=datetime.fromtimestamp(event.at, UTC),
                dwell_s=event.dwell_s,
                level=event.level,
                reason=event.reason,
                zone_name=zone.name if zone else None,
                zone_kind=zone.kind if zone else None,
                zone_tenant_id=zone.tenant_id if zone else None,
                timezone=index.timezone if index else "UTC",
            )
        )
    return stored


def _save_presences(
    session: Session, presences: Sequence[tuple[uuid.UUID, int, PresenceState, datetime]]
) -> None:
    """Upsert each device's presence; `last_ping_at` is when its last ping was received."""
    if not presences:
        return
    updated = datetime.now(UTC)
    session.execute(_UPSERT_PRESENCE, {
        "device_id": [device for device, _, _, _ in presences],
        "mall_id": [mall for _, mall, _, _ in presences],
        "last_ping_at": [received for _, _, _, received in presences],
        "state": [json.dumps(s.to_json()) for _, _, s, _ in presences],
        "updated_at": [updated] * len(presences),
    })  # fmt: skip


def sweep_presence(
    session: Session,
    cache: ZoneIndexCache,
    *,
    now: float,
    rules: PresenceRules,
    sink: EventSink,
    limit: int = 500,
) -> int:
    """Exit events for devices silent for longer than the presence timeout. Returns how many.

    Devices are claimed with the lock the ping path takes (the device row, NO KEY UPDATE) and
    SKIP LOCKED: a device pinging right now, or another sweeper's, is left alone, and neither
    side ever waits for the other (waiting on each other's device and presence rows, in
    opposite orders, deadlocked them). Idempotent: a swept state has no stays left, so a second
    sweep finds nothing.
    """
    cutoff = datetime.fromtimestamp(now - rules.timeout_s, UTC)
    rows = session.execute(
        select(Presence, Device)
        .join(Device, Device.id == Presence.device_id)
        .where(Presence.last_ping_at < cutoff, Presence.state["stays"] != text("'{}'::jsonb"))
        .order_by(Presence.last_ping_at)
        .limit(limit)
        .with_for_update(of=(Device, Presence), key_share=True, skip_locked=True)
    ).all()
    swept = 0
    for presence, device in rows:
        index = cache.index(session, presence.mall_id)
        state = PresenceState.from_json(presence.state)
        silent_s = now - presence.last_ping_at.timestamp()
        advance = PresenceTracker(rules, index or _NoZones()).expire(state, silent_s)
        if not advance.events:
            continue
        produced = [(device.id, int(presence.mall_id), event, index) for event in advance.events]
        stored = _insert_events(session, produced)
        _save_presences(
            session, [(device.id, presence.mall_id, advance.state, presence.last_ping_at)]
        )
        sink.on_events(session, device.id, stored)
        swept += 1
    return swept


class _NoZones:
    """Stand-in geometry for a mall deleted meanwhile: only exits are asked of it."""

    zones: dict[int, Any] = {}  # noqa: RUF012

    def knows(self, zone_id: int) -> bool:
        return False

    def zone_level(self, zone_id: int) -> int | None:
        return None

    def zone_dwell_s(self, zone_id: int) -> int:
        return 0

    def distance_m(self, zone_id: int, lon: float, lat: float) -> float:
        return float("inf")

    def circle_inside(self, zone_id: int, lon: float, lat: float, radius_m: float) -> float:
        return 0.0

    def travel_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
        return 0.0


def purge_pings(session: Session, *, older_than: datetime, batch: int = 50_000) -> int:
    """Delete raw pings past the retention, in batches (short locks). Returns how many."""
    total = 0
    while True:
        deleted = (
            session.connection()
            .execute(
                text(
                    "DELETE FROM pings WHERE ctid IN "
                    "(SELECT ctid FROM pings WHERE ts < :cutoff LIMIT :batch)"
                ),
                {"cutoff": older_than, "batch": batch},
            )
            .rowcount
        )
        session.commit()
        total += deleted
        if deleted < batch:
            return total
