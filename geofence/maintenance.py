"""Presence and ping upkeep outside the ping path: the timeout sweep (exits for devices that
went silent), the raw-ping retention purge, and forgetting a device's presence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from core.devices.models import Device
from core.events import EventSink
from geofence.cache import ZoneIndexCache
from geofence.models import Presence
from geofence.presence import PresenceRules, PresenceState, PresenceTracker
from geofence.storage import insert_events, save_presences


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
        stored = insert_events(session, produced)
        save_presences(
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

    def is_unit(self, zone_id: int) -> bool:
        return False

    def area_m2(self, zone_id: int) -> float:
        return 0.0

    def depth_m(self, zone_id: int, lon: float, lat: float) -> float:
        return float("-inf")

    def units_at(self, lon: float, lat: float, level: int | None) -> frozenset[int]:
        return frozenset()

    def units_near(self, lon: float, lat: float, level: int | None, reach_m: float) -> set[int]:
        return set()

    def near_connector(self, lon: float, lat: float, level: int, within_m: float) -> bool:
        return False

    def travel_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
        return 0.0


def purge_pings(session: Session, *, older_than: datetime, batch: int = 50_000) -> int:
    """Delete one batch of raw pings past the retention (the caller commits each batch: short
    locks). Returns how many; fewer than `batch` means none are left."""
    deleted = session.execute(
        text(
            "DELETE FROM pings WHERE ctid IN "
            "(SELECT ctid FROM pings WHERE ts < :cutoff LIMIT :batch)"
        ),
        {"cutoff": older_than, "batch": batch},
    )
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def forget_presence(session: Session, device_id: uuid.UUID) -> None:
    """Location consent withdrawn: where the device is is forgotten at once (no exit events)."""
    session.execute(delete(Presence).where(Presence.device_id == device_id))
