"""Response shapes of the operators' zone events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ZoneEventOut(BaseModel):
    id: int
    device_id: uuid.UUID = Field(description="The device, by its pseudonymous id")
    subject: Literal["mall", "zone"]
    zone_id: int | None = Field(description="Null for the mall's own enters and exits")
    kind: Literal["enter", "dwell", "exit"]
    at: datetime
    level: int | None
    dwell_s: float | None = Field(description="Exits and dwells: seconds since the enter")
    reason: str | None = Field(description="Exits: left, moved, level_change, timeout, ...")
    confidence: float | None = Field(
        description="Unit enters: the probability that the shopper is inside (null for areas)"
    )
    evidence_from: datetime | None = Field(
        description="Unit enters: the first fix of the stop that decided"
    )
    evidence_fixes: int | None = Field(description="Unit enters: how many fixes that stop held")


class ZoneEventsOut(BaseModel):
    mall_id: int
    events: list[ZoneEventOut] = Field(description="Newest first")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page"
    )
