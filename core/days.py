"""Ranges of days in a mall's own calendar, as the results ask for them. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import InvalidInput

MAX_DAYS = 366
DEFAULT_DAYS = 30
# Days a mall's results can hold (a day at either end of the calendar would overflow).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def day_range(
    timezone: str, since: date | None, until: date | None, now: datetime
) -> tuple[date, date]:
    """`since`..`until` (both included) in the mall's calendar; unset: the last 30 days."""
    if until is None:
        until = now.astimezone(ZoneInfo(timezone)).date()
    if since is None:
        since = until - timedelta(days=DEFAULT_DAYS - 1)
    if until < since:
        raise InvalidInput("`until` is before `since`", code="invalid_range")
    if since < FIRST_DAY or until > LAST_DAY:
        raise InvalidInput(f"days lie from {FIRST_DAY} to {LAST_DAY}", code="invalid_range")
    if (until - since).days >= MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at once", code="range_too_long")
    return since, until


def instants(timezone: str, since: date, until: date) -> tuple[datetime, datetime]:
    """The UTC instants the local days begin and end at (a DST day is 23 or 25 hours)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(since, time(0), zone).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end
