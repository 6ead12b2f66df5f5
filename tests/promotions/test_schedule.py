"""Weekly windows and quiet hours on the mall's wall clock: midnight, time zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promotions.schedule import (
    QuietWindow,
    TimeRange,
    WeeklyWindow,
    in_windows,
    local_time,
    parse_days,
    parse_hhmm,
)

WEEKDAY_EVENINGS = WeeklyWindow(
    parse_days(["weekdays"]), TimeRange(parse_hhmm("17:00"), parse_hhmm("21:00"))
)
FRIDAY_NIGHT = WeeklyWindow(
    parse_days(["fri"]), TimeRange(parse_hhmm("22:00"), parse_hhmm("02:00"))
)
WEEKEND = WeeklyWindow(parse_days(["weekend"]), TimeRange(parse_hhmm("00:00"), parse_hhmm("24:00")))
QUIET = QuietWindow(TimeRange(parse_hhmm("22:00"), parse_hhmm("09:00")))


@pytest.mark.parametrize(
    ("utc", "timezone", "window", "inside"),
    [
        # Shanghai is UTC+8, no DST. Monday 2026-11-23.
        ("2026-11-23T09:00:00", "Asia/Shanghai", WEEKDAY_EVENINGS, True),  # Mon 17:00 local
        ("2026-11-23T08:59:59", "Asia/Shanghai", WEEKDAY_EVENINGS, False),  # Mon 16:59:59
        ("2026-11-23T13:00:00", "Asia/Shanghai", WEEKDAY_EVENINGS, False),  # Mon 21:00: end excl.
        ("2026-11-21T10:00:00", "Asia/Shanghai", WEEKDAY_EVENINGS, False),  # Saturday 18:00
        ("2026-11-21T10:00:00", "Asia/Shanghai", WEEKEND, True),
        ("2026-11-22T15:59:00", "Asia/Shanghai", WEEKEND, True),  # Sun 23:59 local
        ("2026-11-22T16:00:00", "Asia/Shanghai", WEEKEND, False),  # Mon 00:00 local, Sun in UTC
        # Across midnight: Friday 22:00 - 02:00 belongs to Friday.
        ("2026-11-27T14:30:00", "Asia/Shanghai", FRIDAY_NIGHT, True),  # Fri 22:30
        ("2026-11-27T17:30:00", "Asia/Shanghai", FRIDAY_NIGHT, True),  # Sat 01:30
        ("2026-11-27T18:00:00", "Asia/Shanghai", FRIDAY_NIGHT, False),  # Sat 02:00
        ("2026-11-26T17:30:00", "Asia/Shanghai", FRIDAY_NIGHT, False),  # Fri 01:30 (Thu night)
        ("2026-11-28T14:30:00", "Asia/Shanghai", FRIDAY_NIGHT, False),  # Sat 22:30
        # The same UTC instant is evening in Shanghai and morning in Paris.
        ("2026-11-23T10:00:00", "Europe/Paris", WEEKDAY_EVENINGS, False),
        ("2026-11-23T16:30:00", "Europe/Paris", WEEKDAY_EVENINGS, True),  # 17:30 CET
        # Paris summer time (UTC+2) until Sun 2026-10-25 03:00, then UTC+1.
        ("2026-10-23T15:30:00", "Europe/Paris", WEEKDAY_EVENINGS, True),  # Fri 17:30 CEST
        ("2026-10-26T15:30:00", "Europe/Paris", WEEKDAY_EVENINGS, False),  # Mon 16:30 CET
        ("2026-10-26T16:30:00", "Europe/Paris", WEEKDAY_EVENINGS, True),  # Mon 17:30 CET
        # Spring forward (Sun 2026-03-29 02:00 -> 03:00): Mon evening is UTC+2 again.
        ("2026-03-30T15:00:00", "Europe/Paris", WEEKDAY_EVENINGS, True),  # Mon 17:00 CEST
        ("2026-03-27T15:00:00", "Europe/Paris", WEEKDAY_EVENINGS, False),  # Fri 16:00 CET
    ],
)
def test_weekly_windows(utc: str, timezone: str, window: WeeklyWindow, inside: bool) -> None:
    instant = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert window.contains(local_time(instant, timezone)) is inside


@pytest.mark.parametrize(
    ("utc", "timezone", "quiet"),
    [
        ("2026-11-23T19:00:00", "Asia/Shanghai", True),  # 03:00: never at 3 a.m.
        ("2026-11-23T14:00:00", "Asia/Shanghai", True),  # 22:00
        ("2026-11-23T13:59:00", "Asia/Shanghai", False),  # 21:59
        ("2026-11-23T01:00:00", "Asia/Shanghai", False),  # 09:00
        ("2026-11-23T00:59:00", "Asia/Shanghai", True),  # 08:59
        # Fall back in Paris: 02:30 happens twice on 2026-10-25; both are quiet.
        ("2026-10-25T00:30:00", "Europe/Paris", True),
        ("2026-10-25T01:30:00", "Europe/Paris", True),
        ("2026-10-25T08:00:00", "Europe/Paris", False),  # 09:00 CET
        ("2026-10-25T07:59:00", "Europe/Paris", True),  # 08:59 CET
    ],
)
def test_quiet_hours_across_midnight(utc: str, timezone: str, quiet: bool) -> None:
    instant = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert QUIET.contains(local_time(instant, timezone)) is quiet


def test_no_windows_means_always() -> None:
    assert in_windows([], datetime(2026, 11, 24, 3, tzinfo=UTC))


@pytest.mark.parametrize("bad", ["25:00", "7:00", "17:60", "noon", ""])
def test_bad_times_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="time of day"):
        parse_hhmm(bad)


def test_days() -> None:
    assert parse_days(["weekend", "Mon", "friday"]) == frozenset({0, 4, 5, 6})
    with pytest.raises(ValueError, match="not a day"):
        parse_days(["someday"])
