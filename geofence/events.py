"""The zone events of a mall as operators read them: who entered, dwelt in or left which zone,
when, and for unit enters how sure occupancy inference was and on what evidence.

Newest first, a page at a time: the cursor is the id of the last event of the previous page
(ids only grow), so a page never repeats or skips an event while new ones are written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.scope import MallScope
from geofence.event_schemas import ZoneEventOut, ZoneEventsOut
from geofence.malls import get_mall
from geofence.models import ZoneEvent


@dataclass(frozen=True)
class EventFilter:
    zone_id: int | None = None
    device_id: uuid.UUID | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_confidence: float | None = None


def list_events(
    session: Session,
    scope: MallScope,
    mall_id: int,
    where: EventFilter,
    *,
    after: int | None,
    limit: int,
) -> ZoneEventsOut:
    """One page of the mall's zone events (mall-level enters and exits included), newest
    first; `after`: the cursor of the page before."""
    get_mall(session, scope, mall_id)
    query = select(ZoneEvent).where(ZoneEvent.mall_id == mall_id)
    if where.zone_id is not None:
        query = query.where(ZoneEvent.zone_id == where.zone_id)
    if where.device_id is not None:
        query = query.where(ZoneEvent.device_id == where.device_id)
    if where.kind is not None:
        query = query.where(ZoneEvent.kind == where.kind)
    if where.since is not None:
        query = query.where(ZoneEvent.at >= where.since)
    if where.until is not None:
        query = query.where(ZoneEvent.at < where.until)
    if where.min_confidence is not None:
        query = query.where(ZoneEvent.confidence >= where.min_confidence)
    if after is not None:
        query = query.where(ZoneEvent.id < after)
    rows = session.scalars(query.order_by(ZoneEvent.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    return ZoneEventsOut(
        mall_id=mall_id,
        events=[_out(row) for row in page],
        next_cursor=str(page[-1].id) if len(rows) > limit else None,
    )


def _out(row: ZoneEvent) -> ZoneEventOut:
    return ZoneEventOut(
        id=row.id,
        device_id=row.device_id,
        zone_id=row.zone_id,
        subject=row.subject,
        kind=row.kind,
        at=row.at,
        level=row.level,
        dwell_s=row.dwell_s,
        reason=row.reason,
        confidence=row.confidence,
        evidence_from=row.evidence_from,
        evidence_fixes=row.evidence_fixes,
    )
