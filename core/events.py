"""Zone events as they leave geofencing for the promotion engine: the one interface between."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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

    @property
    def subject(self) -> str:
        return "mall" if self.zone_id is None else "zone"


class EventSink(Protocol):
    """Where zone events go next (the promotion engine), inside the ingest transaction."""

    def on_events(
        self, session: Session, device_id: uuid.UUID, events: Sequence[StoredEvent]
    ) -> dict[int, Any]:
        """Decisions by event id (events without one may be left out)."""
        ...


class NoDecisions:
    def on_events(
        self, session: Session, device_id: uuid.UUID, events: Sequence[StoredEvent]
    ) -> dict[int, Any]:
        return {}
