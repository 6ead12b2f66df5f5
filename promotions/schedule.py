"""Local time rules: weekly windows and quiet hours, in the mall's own time zone. Pure.

Times are wall-clock times of the mall's IANA zone, as a marketing manager writes them:
"weekdays 17:00-21:00". A window whose end is not after its start runs past midnight and
belongs to the day it starts on (Friday 22:00-02:00 covers Saturday 01:00). Daylight-saving
changes need no special case: a UTC instant is turned into the mall's wall clock by zoneinfo,
and the rule is checked on that wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_SETS = {"weekdays": (0, 1, 2, 3, 4), "weekend": (5, 6), "daily": (0, 1, 2, 3, 4, 5, 6)}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def parse_hhmm(value: str) -> time:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day HH:MM (00:00-24:00)")
    if value == "24:00":
        return time.max
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def parse_days(days: Iterable[str]) -> frozenset[int]:
    """Day names ("mon".."sun") and sets ("weekdays", "weekend", "daily") as weekday numbers."""
    result: set[int] = set()
    for day in days:
        key = day.strip().lower()
        if key in _DAY_SETS:
            result.update(_DAY_SETS[key])
        elif key[:3] in DAY_NAMES:
            result.add(DAY_NAMES.index(key[:3]))
        else:
            raise ValueError(f"{day!r} is not a day (mon..sun, weekdays, weekend, daily)")
    return frozenset(result)


@dataclass(frozen=True)
class TimeRange:
    """From `start` to `end` on the wall clock; past midnight when `end` <= `start`."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def contains(self, moment: time) -> bool:
        if self.crosses_midnight:
            return moment >= self.start or moment < self.end
        return self.start <= moment < self.end


@dataclass(frozen=True)
class WeeklyWindow:
    days: frozenset[int]  # 0 = Monday
    hours: TimeRange

    def contains(self, local: datetime) -> bool:
        moment = local.time()
        if not self.hours.contains(moment):
            return False
        if self.hours.crosses_midnight and moment < self.hours.end:
            # After midnight: the window started the day before.
            return (local - timedelta(days=1)).weekday() in self.days
        return local.weekday() in self.days


@dataclass(frozen=True)
class QuietWindow:
    hours: TimeRange

    def contains(self, local: datetime) -> bool:
        return self.hours.contains(local.time())


def local_time(instant: datetime, timezone: str) -> datetime:
    """The mall's wall clock at a UTC instant."""
    return instant.astimezone(ZoneInfo(timezone))


def in_windows(windows: Iterable[WeeklyWindow], local: datetime) -> bool:
    """No windows means always."""
    windows = list(windows)
    return not windows or any(window.contains(local) for window in windows)


def quiet_begins(
    instant: datetime, quiets: Iterable[QuietWindow | None], timezone: str
) -> datetime | None:
    """The first instant after `instant` (UTC) at which one of the quiet windows begins on the
    mall's wall clock: a push must be out by then. None without quiet windows."""
    zone = ZoneInfo(timezone)
    today = instant.astimezone(zone).date()
    starts = [
        datetime.combine(today + timedelta(days=offset), quiet.hours.start, zone).astimezone(UTC)
        for offset in (0, 1)
        for quiet in quiets
        if quiet is not None
    ]
    return min((start for start in starts if start > instant), default=None)


def next_window_start(
    instant: datetime, windows: Iterable[WeeklyWindow], timezone: str
) -> datetime | None:
    """The first instant at or after `instant` (UTC) when the mall's wall clock is inside one
    of the windows: `instant` itself when it already is. None without windows that ever open.

    Each candidate start is a wall-clock time of a local day turned into an instant by zoneinfo,
    so "18:00" stays 18:00 on both sides of a daylight-saving change; a start in the hour a
    spring change skips (02:30 when 02:00 becomes 03:00) comes when the clocks read 03:30."""
    windows = list(windows)
    zone = ZoneInfo(timezone)
    if any(window.contains(instant.astimezone(zone)) for window in windows):
        return instant
    today = instant.astimezone(zone).date()
    starts = [
        datetime.combine(today + timedelta(days=offset), window.hours.start, zone).astimezone(UTC)
        for offset in range(8)
        for window in windows
        if (today + timedelta(days=offset)).weekday() in window.days
    ]
    return min((start for start in starts if start >= instant), default=None)
