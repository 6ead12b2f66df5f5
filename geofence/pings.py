"""Checking pings one by one: a bad ping is rejected with its reason, the others go on; a phone's
clock that is off is corrected by the batch's `sent_at`. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.numbers import finite_float, is_number

# An accuracy radius beyond this is not a position inside a mall but a guess.
ABSURD_ACCURACY_M = 10_000.0
MAX_SPEED_FIELD_MPS = 150.0


@dataclass(frozen=True)
class PingLimits:
    future_s: float = 300.0  # clocks run ahead; more than this is a wrong clock
    horizon_s: float = 86_400.0  # older pings are refused: presence is about now


@dataclass(frozen=True)
class Fix:
    index: int  # position in the batch, for the answer
    ts: float  # Unix seconds, UTC
    lon: float
    lat: float
    accuracy_m: float
    level: int | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None


@dataclass(frozen=True)
class RejectedPing:
    index: int
    code: str
    message: str


# A phone's clock within this of the server's is taken as it is (the request's transit time is
# in the difference too); a correction changes only when the phone's clock moved by more.
CLOCK_TOLERANCE_S = 60.0


def phone_clock_offset(kept: float, sent_at: float | None, now: float) -> float:
    """How far to move a phone's ping times onto the server's clock: the batch's `sent_at` (the
    phone's clock when it sent) against the server's `now`, or the correction `kept` from its
    earlier batches. Stable while the phone's clock stays put, so that a batch sent again gets
    the same times and is known as a duplicate."""
    if sent_at is None:
        return kept
    measured = now - sent_at
    if abs(measured - kept) <= CLOCK_TOLERANCE_S:
        return kept
    return 0.0 if abs(measured) <= CLOCK_TOLERANCE_S else float(round(measured))


def instant(value: Any, name: str) -> float:
    """A time a client sends, as UTC seconds; ValueError (with what is wrong) if it is none."""
    try:
        return parse_timestamp(value, name)
    except _Rejected as exc:
        raise ValueError(exc.message) from None


def parse_pings(
    raw: list[Any], *, now: float, limits: PingLimits, offset: float = 0.0
) -> tuple[list[Fix], list[RejectedPing]]:
    """offset: seconds added to every ping's time (phone_clock_offset)."""
    pings: list[Fix] = []
    rejections: list[RejectedPing] = []
    for index, item in enumerate(raw):
        try:
            pings.append(parse_ping(index, item, now=now, limits=limits, offset=offset))
        except _Rejected as exc:
            rejections.append(RejectedPing(index, exc.code, exc.message))
    return pings, rejections


def parse_ping(
    index: int, item: Any, *, now: float, limits: PingLimits, offset: float = 0.0
) -> Fix:
    if not isinstance(item, dict):
        raise _Rejected("invalid_ping", "a ping must be a JSON object")
    ts = parse_timestamp(item.get("ts")) + offset
    if ts > now + limits.future_s:
        raise _Rejected(
            "timestamp_in_future",
            f"ts is {ts - now:.0f} s ahead of the server clock (at most {limits.future_s:.0f} s)",
        )
    if ts < now - limits.horizon_s:
        raise _Rejected(
            "timestamp_too_old",
            f"ts is {now - ts:.0f} s old; pings older than {limits.horizon_s:.0f} s are refused",
        )
    lon = _required(item, "lon")
    lat = _required(item, "lat")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        hint = " (latitude and longitude exchanged?)" if -90 <= lon <= 90 < abs(lat) else ""
        raise _Rejected(
            "coordinate_out_of_range",
            f"lon {lon}, lat {lat} is outside longitude -180..180, latitude -90..90{hint}",
        )
    accuracy = _required(item, "accuracy_m")
    if accuracy <= 0:
        raise _Rejected("invalid_accuracy", f"accuracy_m must be above 0, not {accuracy}")
    if accuracy > ABSURD_ACCURACY_M:
        raise _Rejected(
            "invalid_accuracy", f"accuracy_m {accuracy} is over {ABSURD_ACCURACY_M:.0f} m"
        )
    level = item.get("level")
    if level is not None and (
        isinstance(level, bool) or not isinstance(level, int) or not -20 <= level <= 200
    ):
        raise _Rejected(
            "invalid_level", f"level must be a whole number -20..200, not {_short(level)}"
        )
    speed = _number(item, "speed_mps", required=False)
    if speed is not None and not 0 <= speed <= MAX_SPEED_FIELD_MPS:
        raise _Rejected("invalid_speed", f"speed_mps must be 0..{MAX_SPEED_FIELD_MPS:.0f}")
    heading = _number(item, "heading_deg", required=False)
    if heading is not None and not 0 <= heading <= 360:
        raise _Rejected("invalid_heading", "heading_deg must be 0..360")
    return Fix(index, ts, lon, lat, accuracy, level, speed, heading)


def parse_timestamp(value: Any, name: str = "ts") -> float:
    """Unix seconds (a number) or RFC 3339 with a time zone, as UTC seconds."""
    if isinstance(value, bool) or value is None:
        raise _Rejected("invalid_timestamp", f"{name} is required: Unix seconds or RFC 3339")
    if is_number(value):
        seconds = finite_float(value)
        if seconds is None:
            raise _Rejected("invalid_timestamp", f"{name} is NaN, infinite or too large")
        if seconds > 1e11:
            raise _Rejected(
                "invalid_timestamp",
                f"{name} {seconds:.0f} looks like milliseconds; send Unix seconds",
            )
        return seconds
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise _Rejected(
                "invalid_timestamp", f"{name} {value!r} is neither Unix seconds nor RFC 3339"
            ) from None
        if parsed.tzinfo is None:
            raise _Rejected(
                "invalid_timestamp", f"{name} {value!r} has no time zone (add Z or an offset)"
            )
        return parsed.timestamp()
    raise _Rejected("invalid_timestamp", f"{name} must be Unix seconds or an RFC 3339 string")


def _required(item: dict[str, Any], key: str) -> float:
    value = _number(item, key, required=True)
    assert value is not None
    return value


def _number(item: dict[str, Any], key: str, *, required: bool) -> float | None:
    value = item.get(key)
    if value is None:
        if required:
            raise _Rejected("missing_field", f"{key} is required")
        return None
    if not is_number(value):
        raise _Rejected("invalid_number", f"{key} must be a number, not {_short(value)}")
    number = finite_float(value)
    if number is None:
        raise _Rejected("non_finite_number", f"{key} is NaN, infinite or too large")
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Rejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
