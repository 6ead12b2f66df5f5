"""Ping ingest: check, locate, advance presence, persist; one transaction per batch.

Round trips per batch, whatever its size: lock the device row, read its presence, insert the
pings (one statement), insert the events (one statement), upsert the presence.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from core.events import EventSink, StoredEvent
from geofence.cache import ZoneIndexCache
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

_LOCK_AND_READ_PRESENCE = (
    select(Presence.mall_id, Presence.state)
    .select_from(Device)
    .outerjoin(Presence, Presence.device_id == Device.id)
    .where(Device.id == bindparam("device_id"))
    # NO KEY UPDATE: orders this device's batches without blocking the foreign-key checks
    # (KEY SHARE) of other transactions writing rows that reference the device.
    .with_for_update(of=Device, key_share=True)
)
# One statement for a whole batch, whatever its size: arrays in, unnest, skip known pings.
_INSERT_PINGS = text(
    "INSERT INTO pings (device_id, ts, mall_id, received_at, lon, lat, accuracy_m, level, "
    "speed_mps, heading_deg, flags) "
    "SELECT :device_id, p.ts, p.mall_id, now(), p.lon, p.lat, p.accuracy_m, p.level, "
    "p.speed_mps, p.heading_deg, p.flags "
    "FROM unnest(CAST(:ts AS timestamptz[]), CAST(:mall_id AS bigint[]), "
    "CAST(:lon AS float8[]), CAST(:lat AS float8[]), CAST(:accuracy_m AS real[]), "
    "CAST(:level AS smallint[]), CAST(:speed_mps AS real[]), CAST(:heading_deg AS real[]), "
    "CAST(:flags AS smallint[])) "
    "AS p(ts, mall_id, lon, lat, accuracy_m, level, speed_mps, heading_deg, flags) "
    "ON CONFLICT DO NOTHING RETURNING ts"
)
# Core, not the ORM's bulk path (several times its Python cost per row); ids in row order.
_EVENTS = ZoneEventRow.metadata.tables["zone_events"]
_INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_UPSERT_PRESENCE = insert(Presence).on_conflict_do_update(
    index_elements=[Presence.device_id],
    set_={
        "mall_id": insert(Presence).excluded.mall_id,
        "last_ping_at": insert(Presence).excluded.last_ping_at,
        "state": insert(Presence).excluded.state,
        "updated_at": insert(Presence).excluded.updated_at,
    },
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
    if not device.consent_location:
        raise Forbidden(
            "this device has not consented to location processing; nothing was stored "
            "(PATCH /v1/devices/me with consents.location = true)",
            code="location_consent_required",
        )
    if not raw:
        raise InvalidInput("the batch holds no pings", code="empty_batch")
    if len(raw) > limits.batch_max:
        raise PayloadTooLarge(
            f"{len(raw)} pings in one batch; at most {limits.batch_max}",
            code="batch_too_large",
            details={"pings": len(raw), "limit": limits.batch_max},
        )
    directory = cache.directory(session)
    if mall_hint is not None and mall_hint not in directory.malls:
        raise NotFound(f"no mall with id {mall_hint}", code="unknown_mall")

    pings, rejections = parse_pings(list(raw), now=now, limits=limits.pings)
    result = IngestResult(rejections=rejections)
    pings, duplicates = _first_of_each_timestamp(pings)
    result.duplicates += duplicates
    if not pings:
        return result

    # Locking the device row orders concurrent batches of one device; one round trip with
    # reading its presence.
    row = session.execute(_LOCK_AND_READ_PRESENCE, {"device_id": device.id}).one_or_none()
    state = PresenceState.from_json(row.state) if row and row.state else PresenceState()
    state_mall = row.mall_id if row else None

    found = directory.find(
        np.array([p.lon for p in pings]), np.array([p.lat for p in pings]), mall_hint
    ).tolist()
    storable = {p.index for p, mall_id in zip(pings, found, strict=True) if mall_id}
    result.outside = len(pings) - len(storable)

    flags: dict[int, PingFlag] = {}
    produced: list[tuple[int, ZoneEvent, ZoneIndex]] = []
    for mall_id, segment in _segments(pings, found, state_mall):
        index = cache.index(session, mall_id)
        if index is None:  # deleted a moment ago
            continue
        if state_mall is not None and state_mall != mall_id:
            previous = cache.index(session, state_mall) or index
            ended = PresenceTracker(rules, previous).leave(state, reason="mall_change")
            produced.extend((state_mall, event, previous) for event in ended)
        state_mall = mall_id
        where = index.locate([p.lon for p in segment], [p.lat for p in segment], _levels(segment))
        observations = [
            Observation(p.ts, p.lon, p.lat, p.accuracy_m, p.level, zones)
            for p, zones in zip(segment, where, strict=True)
        ]
        advance = PresenceTracker(rules, index).advance(state, observations)
        state = advance.state
        flags.update((p.index, flag) for p, flag in zip(segment, advance.flags, strict=True))
        produced.extend((mall_id, event, index) for event in advance.events)

    stored_pings = [p for p in pings if p.index in storable]
    result.accepted = _insert_pings(session, device.id, stored_pings, found, pings, flags)
    result.duplicates += len(stored_pings) - result.accepted
    result.flagged = sorted((i, flag) for i, flag in flags.items() if flag not in (PingFlag.NONE,))
    result.events = _insert_events(session, device.id, produced)
    result.mall_id = state_mall
    if state_mall is not None and state.last_ts is not None:
        _save_presence(session, device.id, state_mall, state)
    if result.events:
        result.decisions = sink.on_events(session, device.id, result.events)
    return result


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


def _insert_pings(
    session: Session,
    device_id: uuid.UUID,
    pings: list[Ping],
    found: list[int],
    all_pings: list[Ping],
    flags: dict[int, PingFlag],
) -> int:
    """Insert in one statement; a ping stored before is skipped. Returns how many are new."""
    if not pings:
        return 0
    mall_of = {p.index: m for p, m in zip(all_pings, found, strict=True)}
    columns = {
        "device_id": device_id,
        "ts": [datetime.fromtimestamp(p.ts, UTC) for p in pings],
        "mall_id": [mall_of[p.index] for p in pings],
        "lon": [p.lon for p in pings],
        "lat": [p.lat for p in pings],
        "accuracy_m": [p.accuracy_m for p in pings],
        "level": [p.level for p in pings],
        "speed_mps": [p.speed_mps for p in pings],
        "heading_deg": [p.heading_deg for p in pings],
        "flags": [int(flags.get(p.index, PingFlag.NONE)) for p in pings],
    }
    return len(session.execute(_INSERT_PINGS, columns).all())


def _insert_events(
    session: Session,
    device_id: uuid.UUID,
    produced: Sequence[tuple[int, ZoneEvent, ZoneIndex | None]],
) -> list[StoredEvent]:
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
        for mall_id, event, _ in produced
    ]
    ids = session.execute(_INSERT_EVENTS, rows).scalars().all()
    stored = []
    for event_id, (mall_id, event, index) in zip(ids, produced, strict=True):
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


def _save_presence(
    session: Session, device_id: uuid.UUID, mall_id: int, state: PresenceState
) -> None:
    assert state.last_ts is not None
    values = {
        "device_id": device_id,
        "mall_id": mall_id,
        "last_ping_at": datetime.fromtimestamp(state.last_ts, UTC),
        "state": state.to_json(),
        "updated_at": datetime.now(UTC),
    }
    session.execute(_UPSERT_PRESENCE, [values])


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
        advance = PresenceTracker(rules, index or _NoZones()).expire(state, now)
        if not advance.events:
            continue
        produced = [(int(presence.mall_id), event, index) for event in advance.events]
        stored = _insert_events(session, device.id, produced)
        _save_presence(session, device.id, presence.mall_id, advance.state)
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
