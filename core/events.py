"""Zone events as they leave geofencing for the promotion engine, and the decisions that come
back: the one interface between the two domains."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class StoredEvent:
    id: int
    device_id: uuid.UUID
    mall_id: int
    zone_id: int | None  # None: the mall visit itself
    kind: str
    at: datetime
    dwell_s: float | None
    level: int | None
    reason: str | None
    zone_name: str | None
    zone_kind: str | None
    zone_tenant_id: int | None = None
    timezone: str = "UTC"  # the mall's, for rules in local time
    confidence: float | None = None  # unit enters: how sure occupancy inference was
    evidence_from: datetime | None = None  # unit enters: the first fix of the deciding stop
    evidence_fixes: int | None = None

    @property
    def subject(self) -> str:
        return "mall" if self.zone_id is None else "zone"


@dataclass(frozen=True)
class DecisionSummary:
    """What the promotion engine decided for one event, as the shopper's app is told."""

    decision_id: int
    outcome: str  # sent, holdout or none
    promotion_id: int | None
    reason: str | None
    title: str | None = None  # in the device's language, when a promotion was chosen
    body: str | None = None
    code: str | None = None  # the redemption code shown at the till


class EventSink(Protocol):
    """Where zone events go next (the promotion engine), inside the ingest transaction."""

    def on_events(
        self, session: Session, device_id: uuid.UUID, events: Sequence[StoredEvent]
    ) -> dict[int, DecisionSummary]:
        """Decisions by event id (events without one may be left out)."""
        ...
