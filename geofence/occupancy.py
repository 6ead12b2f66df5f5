"""Which unit (store, restaurant, restroom) a shopper is in, from the fixes of a stop. Pure.

A single fix is not where the shopper is: indoors it is off by metres, now and then by tens of
metres. A shopper who is in a store stands, or moves slowly, for minutes; one who walks past or
through it does not. So a unit is entered on a *stop*:

- A stop begins when the latest fixes (at least `min_fixes`, spanning at least `min_span_s`,
  within `window_s`, or longer for an app that reports every 30-60 s) have the spread of
  someone standing (σ estimated from them at most `max_sigma_m`) and their earlier and later
  halves do not drift apart (a walker's do).
- It then grows with every fix that falls within `gate_m` (or 3 σ) of it, kept as running sums
  (geofence.stop): where the shopper stands is the mean of its fixes, known to the standard
  error of geofence.stop, which counts fixes whose errors repeat each other as fewer and keeps
  an offset that lasts. `exit_fixes` fixes in a row beyond the gate, another floor, a long
  silence, or a spread grown to a walker's end it (one outlier ends nothing).
- The enter's confidence is the probability that the shopper stands inside the unit: the
  share of the stop's spread inside it (a half-plane at its nearest wall), against the units
  beside it and the corridor. A unit is entered when that is at least `enter_confidence` on
  `confirmations` judgements in a row. A big store is entered on the first fixes of a stop; a
  kiosk when enough fixes agree: the dwell needed scales with the unit and the fixes by itself.

Leaving takes evidence too: `exit_fixes` fixes in a row, over `exit_span_s`, farther than
`exit_margin_m` outside the unit; a stop confidently elsewhere; another floor (once confirmed,
geofence.floors); or silence (the caller's timeout).

Areas (the mall, corridors, food courts...) are not decided here: they keep the per-fix rule of
geofence.presence. docs/geofencing.md explains the choice, bench/presence.py measures it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Protocol

from geofence.stop import OccupancyRules, Stop

# A 2-D Gaussian's median radius is σ·√(2 ln 2): σ estimated from it ignores outliers.
_MEDIAN_RADIUS = math.sqrt(2 * math.log(2))

Point = tuple[float, float, float, int | None]  # ts, lon, lat, level


@dataclass(frozen=True)
class Fix:
    ts: float
    lon: float
    lat: float
    level: int | None
    units: frozenset[int]  # the units the fix lies in (the ZoneIndex says)


@dataclass(frozen=True)
class UnitEvent:
    kind: str  # enter | exit
    zone_id: int
    at: float
    confidence: float | None = None  # enters: probability the shopper is inside
    evidence_from: float | None = None  # enters: the first fix of the stop
    evidence_fixes: int | None = None
    reason: str | None = None  # exits: left, moved, level_change, zone_removed, ...


@dataclass
class Occupancy:
    """Per device: the unit it is in (if any), its current stop, and the latest fixes."""

    unit: int | None = None
    entered_at: float | None = None
    outside: int = 0  # fixes in a row beyond the exit margin
    outside_since: float | None = None  # the first of them
    candidate: int | None = None  # the unit the last judgement pointed to, confirmed or not
    streak: int = 0  # judgements in a row that were sure of the candidate
    stop: Stop | None = None
    window: list[Point] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "entered_at": self.entered_at,
            "outside": self.outside,
            **({"outside_since": self.outside_since} if self.outside else {}),
            "candidate": self.candidate,
            "streak": self.streak,
            "stop": self.stop.to_json() if self.stop else None,
            "window": [[round(t, 3), round(x, 7), round(y, 7), lv] for t, x, y, lv in self.window],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Occupancy:
        stop = data.get("stop")
        return cls(
            unit=data.get("unit"),
            entered_at=data.get("entered_at"),
            outside=data.get("outside", 0),
            outside_since=data.get("outside_since"),
            candidate=data.get("candidate"),
            streak=data.get("streak", 0),
            stop=Stop.from_json(stop) if stop else None,
            window=[(t, x, y, lv) for t, x, y, lv in data.get("window", [])],
        )


class UnitGeometry(Protocol):
    """What occupancy asks of the zones (the ZoneIndex answers)."""

    def depth_m(self, zone_id: int, lon: float, lat: float) -> float: ...
    def units_at(self, lon: float, lat: float, level: int | None) -> frozenset[int]: ...
    def units_near(
        self, lon: float, lat: float, level: int | None, within_m: float
    ) -> set[int]: ...
    def zone_level(self, zone_id: int) -> int | None: ...
    def area_m2(self, zone_id: int) -> float: ...
    def travel_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float: ...


class OccupancyTracker:
    def __init__(self, rules: OccupancyRules, units: UnitGeometry) -> None:
        self.rules = rules
        self.units = units

    def observe(self, state: Occupancy, fix: Fix) -> list[UnitEvent]:
        """Take one fix, in time order; modifies `state`, returns the unit events it causes. A
        fix no later than the last one taken (a retried batch, a phone's late upload) changes
        nothing."""
        if state.window and fix.ts <= state.window[-1][0]:
            return []
        events: list[UnitEvent] = []
        self._remember(state, fix)
        if state.unit is not None:
            self._check_exit(state, fix, events)
        if self._follow(state, fix) and state.stop is not None:
            self._judge(state, state.stop, fix, events)  # the stop moved: judge it again
        return events

    def end(self, state: Occupancy, *, at: float, reason: str) -> list[UnitEvent]:
        """Leave the unit now (timeout, another mall); the stop and window are forgotten too."""
        events: list[UnitEvent] = []
        if state.unit is not None:
            events.append(UnitEvent("exit", state.unit, at, reason=reason))
        state.unit = state.entered_at = state.candidate = state.stop = None
        state.outside = state.streak = 0
        state.window.clear()
        return events

    def seed(self, window: list[Point]) -> Stop | None:
        """A stop in the latest fixes, if they say the shopper stands: the shortest run of
        latest fixes long enough to judge whose spread is that of standing and whose halves do
        not drift apart. A shopper who has just walked in stands on the fixes since, not on
        those of the walk."""
        rules = self.rules
        for first in range(len(window) - rules.min_fixes, -1, -1):
            tail = window[first:]
            if tail[-1][0] - tail[0][0] >= rules.min_span_s:
                stop = self._standing(tail)
                if stop is not None:
                    return stop
        return None

    def _standing(self, tail: list[Point]) -> Stop | None:
        rules = self.rules
        lon = median(x for _, x, _, _ in tail)
        lat = median(y for _, _, y, _ in tail)
        distances = [self.units.travel_m(lon, lat, x, y) for _, x, y, _ in tail]
        sigma = max(rules.min_sigma_m, median(distances) / _MEDIAN_RADIUS)
        if sigma > rules.max_sigma_m:
            return None
        # The fixes within 2.5 σ of the median: an outlier 10-20 m away does not count.
        kept = [w for w, d in zip(tail, distances, strict=True) if d <= 2.5 * sigma]
        half = len(kept) // 2
        early, late = _mean(kept[:half]), _mean(kept[half:])
        drift = max(rules.max_drift_m, 2 * min(sigma, rules.drift_sigma_m))
        if self.units.travel_m(*early, *late) > drift:
            return None  # walking: the later fixes are elsewhere than the earlier ones
        stop = Stop(tail[0][0], tail[-1][0], tail[-1][3], kept[0][1], kept[0][2])
        for ts, x, y, _ in kept:
            stop.add(ts, x, y)
        return stop

    def _follow(self, state: Occupancy, fix: Fix) -> bool:
        """Grow, end or begin the stop with this fix; True when the fix is the stop's."""
        rules = self.rules
        stop = state.stop
        if stop is not None and (stop.level != fix.level or fix.ts - stop.last > rules.sparse_s):
            stop = state.stop = None
        if stop is not None:
            gate = max(rules.gate_m, 3 * stop.sigma_m(rules.min_sigma_m))
            if stop.distance_m(fix.lon, fix.lat) > gate:
                stop.misses += 1
                if stop.misses < rules.exit_fixes:
                    return False
                # Walked away: the fixes since are where a next stop may begin.
                state.window = state.window[-stop.misses :]
            else:
                stop.add(fix.ts, fix.lon, fix.lat)
                if stop.sigma_m(rules.min_sigma_m) <= rules.max_sigma_m:
                    return True
                # Its fixes spread as a walker's do: it was a slow stretch of a walk.
                state.window = state.window[-1:]
        state.stop = self.seed(state.window)
        return state.stop is not None

    def _remember(self, state: Occupancy, fix: Fix) -> None:
        rules = self.rules
        # A backgrounded app reports every 30-60 s: its window spans as many fixes as a
        # foreground app's, up to `sparse_s`.
        gap = fix.ts - state.window[-1][0] if state.window else 0.0
        horizon = min(rules.sparse_s, max(rules.window_s, rules.min_fixes * gap + 1))
        window = [w for w in state.window if w[3] == fix.level and fix.ts - w[0] <= horizon]
        # As the presence row keeps it (JSON, to the millisecond and the centimetre): a process
        # that reads the state back decides exactly as this one.
        window.append((round(fix.ts, 3), round(fix.lon, 7), round(fix.lat, 7), fix.level))
        state.window = window[-rules.max_fixes :]

    def _check_exit(self, state: Occupancy, fix: Fix, events: list[UnitEvent]) -> None:
        unit = state.unit
        assert unit is not None
        level = self.units.zone_level(unit)
        if level is not None and fix.level is not None and fix.level != level:
            self._leave(state, fix.ts, "level_change", events)
            return
        if (
            unit in fix.units
            or self.units.depth_m(unit, fix.lon, fix.lat) >= -self.rules.exit_margin_m
        ):
            state.outside = 0
            return
        state.outside += 1
        if state.outside == 1 or state.outside_since is None:
            state.outside_since = fix.ts
        # Two outlier episodes back to back put three fixes outside within seconds; a shopper
        # walking out keeps being outside.
        lasted = fix.ts - state.outside_since >= self.rules.exit_span_s
        if state.outside >= self.rules.exit_fixes and lasted:
            self._leave(state, fix.ts, "left", events)

    def _judge(self, state: Occupancy, stop: Stop, fix: Fix, events: list[UnitEvent]) -> None:
        lon, lat = stop.centre()
        error_m = stop.standard_error_m(self.rules)
        # The units the shopper may stand in: within reach of the stop's error.
        candidates = self.units.units_near(lon, lat, fix.level, 3 * error_m)
        candidates.update(u for u in (state.unit, state.candidate) if u is not None)
        candidates = {u for u in candidates if self.units.zone_level(u) in (fix.level, None)}
        confidence = self._posterior(state, candidates, lon, lat, error_m, fix.level)
        candidates = {u for u in candidates if confidence[u] > 0.0}
        if not candidates:
            state.candidate, state.streak = None, 0
            return
        wanted = self.rules.enter_confidence
        # Units may nest (a concession in a department store, a floor's outline imported as a
        # unit): a shopper surely in two is in the smaller one.
        sure_of = sorted(u for u in candidates if confidence[u] >= wanted)
        sure = bool(sure_of)
        if sure:
            best = min(sure_of, key=self.units.area_m2)
        else:
            best = max(sorted(confidence), key=lambda u: confidence[u])
        state.streak = state.streak + 1 if sure and best == state.candidate else int(sure)
        state.candidate = best
        if state.unit is not None:
            inner = sure and self.units.area_m2(best) < self.units.area_m2(state.unit)
            if confidence[state.unit] > 1 - wanted and not inner:
                return  # the stop may well be in the unit the shopper is in: stay
            elsewhere = best != state.unit and sure
            depth = self.units.depth_m(state.unit, lon, lat)
            if not elsewhere and depth > -self.rules.exit_margin_m:
                return  # standing near its wall, in no other unit: a small unit's noise
            if fix.ts - stop.since < self.rules.exit_span_s:
                return  # a stop of a few seconds elsewhere: an outlier episode, as likely
            self._leave(state, fix.ts, "moved", events)
        if sure and state.streak >= self.rules.confirmations:
            state.unit, state.entered_at, state.outside, state.streak = best, fix.ts, 0, 0
            events.append(
                UnitEvent("enter", best, fix.ts, round(confidence[best], 3), stop.since, stop.n)
            )

    def _posterior(
        self,
        state: Occupancy,
        candidates: set[int],
        lon: float,
        lat: float,
        error_m: float,
        level: int | None,
    ) -> dict[int, float]:
        """The probability that the shopper stands in each candidate unit. Where they stand is
        the stop's centre give or take `error_m`: the share of that spread inside a unit (a
        half-plane at its nearest wall), against the shares of the units beside it and of the
        corridor. Lasting errors have a heavy tail (excursions of tens of metres that hold for
        a while): a mixture of the spread and one `tail_scale` times as wide."""
        tail = self.rules.tail_share * (state.stop.correlated(self.rules) if state.stop else 1.0)
        scale = self.rules.tail_scale
        mass = {}
        for u in candidates:
            z = self.units.depth_m(u, lon, lat) / error_m
            mass[u] = (1 - tail) * _phi(z) + tail * _phi(z / scale)
        within = self.units.units_at(lon, lat, level)
        posterior = {}
        for u in candidates:
            # Units that hold the stop together nest (a concession in a store): no rivals.
            rivals = sum(mass[v] for v in candidates if v != u and not {u, v} <= within)
            posterior[u] = mass[u] / max(1.0, mass[u] + rivals)
        return posterior

    def _leave(self, state: Occupancy, at: float, reason: str, events: list[UnitEvent]) -> None:
        assert state.unit is not None
        events.append(UnitEvent("exit", state.unit, at, reason=reason))
        state.unit = state.entered_at = None
        state.outside = 0
        # The stop and fixes that placed the shopper inside say nothing of where they are now.
        state.stop = None
        state.window = state.window[-1:]


def _phi(z: float) -> float:
    if math.isinf(z) or math.isnan(z):
        return 0.0 if z < 0 or math.isnan(z) else 1.0
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _mean(fixes: list[Point]) -> tuple[float, float]:
    return (
        sum(x for _, x, _, _ in fixes) / len(fixes),
        sum(y for _, _, y, _ in fixes) / len(fixes),
    )
