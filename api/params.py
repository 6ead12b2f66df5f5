"""Path parameters shared by routers: ids fit PostgreSQL's bigint, so a huge id is a 422."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**63 - 1

MallId = Annotated[int, Path(ge=1, le=MAX_ID, description="Mall id")]
ZoneId = Annotated[int, Path(ge=1, le=MAX_ID, description="Zone id")]
TenantId = Annotated[int, Path(ge=1, le=MAX_ID, description="Tenant id")]
PromotionId = Annotated[int, Path(ge=1, le=MAX_ID, description="Promotion id")]
LevelOrdinal = Annotated[int, Path(ge=-20, le=200, description="Level ordinal (0: ground floor)")]

# A range of days of the mall's calendar (daily analytics).
SinceDay = Annotated[date | None, Query(description="First day (default: 30 days ago)")]
UntilDay = Annotated[date | None, Query(description="Last day (default: today)")]
