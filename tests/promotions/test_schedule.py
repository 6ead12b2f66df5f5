"""Weekly windows and quiet hours on the mall's wall clock: midnight, time zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from promotions.schedule import (
    QuietWindow,
    TimeRange,
    WeeklyWindow,
    in_windows,
    local_time,
    next_window_start,
    parse_days,
    parse_hhmm,
    quiet_begins,
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


# Send windows as a marketing manager writes them: weekday evenings, weekend days.
def window(days: str, start: str, end: str) -> WeeklyWindow:
    return WeeklyWindow(parse_days([days]), TimeRange(parse_hhmm(start), parse_hhmm(end)))


SEND = [window("weekdays", "18:00", "21:00"), window("weekend", "10:00", "20:00")]


@pytest.mark.parametrize(
    ("utc", "expected_utc", "local"),
    [
        # New York before the spring change (EST, UTC-5): Friday 17:00 -> 18:00 that evening.
        ("2026-03-06T22:00:00", "2026-03-06T23:00:00", "2026-03-06T18:00:00-05:00"),
        # Inside a window: now.
        ("2026-03-06T23:30:00", "2026-03-06T23:30:00", "2026-03-06T18:30:00-05:00"),
        # Saturday 21:00 EST -> Sunday 10:00, after the clocks went forward (EDT, UTC-4).
        ("2026-03-08T02:00:00", "2026-03-08T14:00:00", "2026-03-08T10:00:00-04:00"),
        # Sunday 20:30 EDT -> Monday 18:00 EDT: 22:00 UTC now, where it was 23:00 a week ago.
        ("2026-03-09T00:30:00", "2026-03-09T22:00:00", "2026-03-09T18:00:00-04:00"),
        # Autumn: Saturday 21:00 EDT -> Sunday 10:00 EST, after the clocks went back.
        ("2026-11-01T01:00:00", "2026-11-01T15:00:00", "2026-11-01T10:00:00-05:00"),
    ],
)
def test_the_next_send_window_in_mall_local_time_across_dst(
    utc: str, expected_utc: str, local: str
) -> None:
    instant = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    start = next_window_start(instant, SEND, "America/New_York")
    assert start == datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    assert start.astimezone(ZoneInfo("America/New_York")).isoformat() == local


def test_a_window_that_opens_in_the_skipped_hour_opens_when_the_clocks_get_there() -> None:
    night = [window("daily", "02:30", "04:00")]
    start = next_window_start(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), night, "America/New_York")
    assert start is not None
    assert start.astimezone(ZoneInfo("America/New_York")).isoformat() == "2026-03-08T03:30:00-04:00"
    assert next_window_start(start, night, "America/New_York") == start  # and it is open then


def test_no_send_window_never_opens() -> None:
    assert next_window_start(datetime(2026, 3, 8, tzinfo=UTC), [], "Asia/Shanghai") is None


@pytest.mark.parametrize(
    ("local", "begins"),
    [
        ("2026-12-04T19:30:00", "2026-12-04T22:00:00+08:00"),  # this evening
        ("2026-12-04T23:00:00", "2026-12-05T22:00:00+08:00"),  # already quiet: tomorrow's
        ("2026-12-05T08:00:00", "2026-12-05T22:00:00+08:00"),
    ],
)
def test_when_the_quiet_hours_begin(local: str, begins: str) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    instant = datetime.fromisoformat(local).replace(tzinfo=shanghai).astimezone(UTC)
    found = quiet_begins(instant, [QUIET, None], "Asia/Shanghai")
    assert found is not None
    assert found.astimezone(shanghai).isoformat() == begins
    earlier = QuietWindow(TimeRange(parse_hhmm("20:00"), parse_hhmm("07:00")))  # the shopper's
    assert quiet_begins(instant, [QUIET, earlier], "Asia/Shanghai") == min(
        found, datetime.fromisoformat(begins[:11] + "20:00:00+08:00").astimezone(UTC)
    )
    assert quiet_begins(instant, [None], "Asia/Shanghai") is None
