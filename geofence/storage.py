"""What ingest reads and writes, in as few statements as a group allows: lock the device rows
and read their presence, insert the pings, insert the events, upsert the presences.

Each takes arrays for the whole group (unnest), so a group costs the same round trips whatever
its size.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from core.events import StoredEvent
from geofence.index import MALL, ZoneIndex
from geofence.models import ZoneEvent as ZoneEventRow
from geofence.pings import Fix
from geofence.presence import PingFlag, PresenceState, Transition

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
class LockedDevice:
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


def lock_devices(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, LockedDevice]:
    """Lock the devices' rows (in id order), then read their presence."""
    devices = {row.id: row for row in session.execute(_LOCK, {"ids": list(ids)})}
    presences = {row.device_id: row for row in session.execute(_READ_PRESENCE, {"ids": list(ids)})}
    return {
        device_id: LockedDevice(device, presences.get(device_id))
        for device_id, device in devices.items()
    }


# One fix to store: the device, the fix, its mall, and its flag.
PingRow = tuple[uuid.UUID, Fix, int, PingFlag]


def insert_pings(session: Session, pings: Sequence[PingRow]) -> dict[uuid.UUID, int]:
    """Insert in one statement; a ping stored before is skipped. Returns how many are new."""
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
        "flags": [int(flag) for _, _, _, flag in pings],
    }
    accepted: dict[uuid.UUID, int] = {}
    for (device,) in session.execute(_INSERT_PINGS, columns):
        accepted[device] = accepted.get(device, 0) + 1
    return accepted


def insert_events(
    session: Session,
    produced: Sequence[tuple[uuid.UUID, int, Transition, ZoneIndex | None]],
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
            "confidence": event.confidence,
            "evidence_from": _instant(event.evidence_from),
            "evidence_fixes": event.evidence_fixes,
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
                confidence=event.confidence,
                evidence_from=_instant(event.evidence_from),
                evidence_fixes=event.evidence_fixes,
            )
        )
    return stored


def _instant(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def save_presences(
    session: Session, presences: Sequence[tuple[uuid.UUID, int, PresenceState, datetime]]
) -> None:
    """Upsert each device's presence; `last_ping_at` is when its last ping was received."""
    if not presences:
        return
    updated = datetime.now(UTC)
    session.execute(
        _UPSERT_PRESENCE,
        {
            "device_id": [device for device, _, _, _ in presences],
            "mall_id": [mall for _, mall, _, _ in presences],
            "last_ping_at": [received for _, _, _, received in presences],
            "state": [json.dumps(s.to_json()) for _, _, s, _ in presences],
            "updated_at": [updated] * len(presences),
        },
    )
