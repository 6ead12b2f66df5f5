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


def _written(pattern: str, how: str) -> BeforeValidator:
    """Text that must match `pattern`: pydantic would read "0" as a Unix time (1970-01-01)."""
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError(how)
        return value

    return BeforeValidator(check)


_ISO_DAY = _written(r"\d{4}-\d{2}-\d{2}", "a day is written YYYY-MM-DD")
# An instant says its time zone too: which 10:00 would it be?
_ISO_INSTANT = _written(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})",
    "an instant is written YYYY-MM-DDThh:mm[:ss[.fff]] with Z or ±hh:mm",
)

# A range of days of the mall's calendar (daily analytics).
SinceDay = Annotated[date | None, _ISO_DAY, Query(description="First day (default: 30 days ago)")]
UntilDay = Annotated[date | None, _ISO_DAY, Query(description="Last day (default: today)")]

# A range of instants (events): from `since` (included) to `until` (excluded).
SinceInstant = Annotated[
    datetime | None, _ISO_INSTANT, Query(description="From (ISO 8601, with zone)")
]
UntilInstant = Annotated[datetime | None, _ISO_INSTANT, Query(description="Until, excluded")]
