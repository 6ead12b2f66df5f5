"""Path parameters shared by routers: ids fit PostgreSQL's bigint, so a huge id is a 422."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator

MAX_ID = 2**63 - 1

MallId = Annotated[int, Path(ge=1, le=MAX_ID, description="Mall id")]
ZoneId = Annotated[int, Path(ge=1, le=MAX_ID, description="Zone id")]
TenantId = Annotated[int, Path(ge=1, le=MAX_ID, description="Tenant id")]
PromotionId = Annotated[int, Path(ge=1, le=MAX_ID, description="Promotion id")]
LevelOrdinal = Annotated[int, Path(ge=-20, le=200, description="Level ordinal (0: ground floor)")]


def _iso_day(value: object) -> object:
    # Pydantic would read "0" as a Unix time (1970-01-01): a day is written YYYY-MM-DD.
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

# A range of days of the mall's calendar (daily analytics).
SinceDay = Annotated[
    date | None, BeforeValidator(_iso_day), Query(description="First day (default: 30 days ago)")
]
UntilDay = Annotated[
    date | None, BeforeValidator(_iso_day), Query(description="Last day (default: today)")
]


def _iso_instant(value: object) -> object:
    # As for days: "0" would be read as a Unix time. An instant says its time zone too.
    if isinstance(value, str) and not _ISO_INSTANT.fullmatch(value):
        raise ValueError("an instant is written YYYY-MM-DDThh:mm[:ss[.fff]] with Z or ±hh:mm")
    return value


_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})")

# A range of instants (events): from `since` (included) to `until` (excluded).
SinceInstant = Annotated[
    datetime | None, BeforeValidator(_iso_instant), Query(description="From (ISO 8601, with zone)")
]
UntilInstant = Annotated[
    datetime | None, BeforeValidator(_iso_instant), Query(description="Until, excluded")
]
