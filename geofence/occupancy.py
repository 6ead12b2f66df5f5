"""Which unit (store, restaurant, restroom) a shopper is in, from a short window of fixes. Pure.

A single fix is not where the shopper is: indoors it is off by metres, now and then by tens of
metres. A shopper who is in a store stands, or moves slowly, for minutes; one who walks past or
through it does not. So a unit is entered on a *stop*: the last fixes (at least `min_fixes`,
spanning at least `min_span_s`, within `window_s`) whose spread says the shopper is standing
(σ estimated from them no larger than `max_sigma_m`), located at their median, with a standard
error that shrinks as fixes accrue. The enter's confidence is the probability that the stop
lies inside the unit: Φ(depth / standard error), depth being the metres from the median to the
unit's outline (positive inside). Confidence at least `enter_confidence` enters the unit; one
unit at a time.

Leaving takes evidence too: `exit_fixes` fixes in a row farther than `exit_margin_m` outside
the unit (one outlier ends nothing), a stop confidently elsewhere, another floor, or silence
(the caller's timeout).

Areas (the mall, corridors, food courts...) are not decided here: they keep the per-fix rule of
geofence.presence. docs/geofencing.md explains the choice, bench/presence.py measures it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Protocol

# A 2-D Gaussian's median radius is σ·√(2 ln 2): σ estimated from it ignores outliers.
_MEDIAN_RADIUS = math.sqrt(2 * math.log(2))


@dataclass(frozen=True)
class OccupancyRules:
    window_s: float = 45.0
    max_fixes: int = 8
    min_fixes: int = 3
    min_span_s: float = 12.0
    every_run: bool = False  # judge every standing run of latest fixes, not the longest only
    max_drift_m: float = 3.0  # halves of a stop farther apart than this (or 2 σ): walking
    max_sigma_m: float = 5.0  # a spread wider than this is a shopper walking, not standing
    min_sigma_m: float = 1.0  # never trust a stop to better than this
    enter_confidence: float = 0.9
    confirmations: int = 2  # sure judgements in a row, on fixes of their own, before an enter
    exit_fixes: int = 3
    exit_margin_m: float = 4.0


@dataclass(frozen=True)
class Fix:
    ts: float
    lon: float
    lat: float
    level: int | None
    units: frozenset[int]  # the units the fix lies in (the ZoneIndex says)


@dataclass(frozen=True)
class Stop:
    lon: float
    lat: float
    sigma_m: float
    standard_error_m: float
    fixes: int
    since: float  # the first fix of the window


@dataclass(frozen=True)
class UnitEvent:
    kind: str  # enter | exit
    zone_id: int
    at: float
    confidence: float | None = None  # enters: probability the shopper is inside
    evidence_from: float | None = None  # enters: the first fix of the stop
    evidence_fixes: int | None = None
    reason: str | None = None  # exits: left, moved, level_change


@dataclass
class Occupancy:
    """Per device: the unit it is in (if any), and the recent fixes that decide."""

    unit: int | None = None
    entered_at: float | None = None
    outside: int = 0  # fixes in a row beyond the exit margin
    candidate: int | None = None  # the unit the last stop pointed to, confirmed or not
    streak: int = 0  # judgements in a row that were sure of the candidate
    window: list[tuple[float, float, float, int | None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "entered_at": self.entered_at,
            "outside": self.outside,
            "candidate": self.candidate,
            "streak": self.streak,
            "window": [[round(t, 3), round(x, 7), round(y, 7), lv] for t, x, y, lv in self.window],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Occupancy:
        return cls(
            unit=data.get("unit"),
            entered_at=data.get("entered_at"),
            outside=data.get("outside", 0),
            candidate=data.get("candidate"),
            streak=data.get("streak", 0),
            window=[(t, x, y, lv) for t, x, y, lv in data.get("window", [])],
        )


class UnitGeometry(Protocol):
    """What occupancy asks of the zones (the ZoneIndex answers)."""

    def depth_m(self, zone_id: int, lon: float, lat: float) -> float: ...
    def zone_level(self, zone_id: int) -> int | None: ...
    def travel_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float: ...


class OccupancyTracker:
    def __init__(self, rules: OccupancyRules, units: UnitGeometry) -> None:
        self.rules = rules
        self.units = units

    def observe(self, state: Occupancy, fix: Fix) -> list[UnitEvent]:
        """Take one fix (in time order; the caller drops duplicates and late ones); modifies
        `state`, returns the unit events it causes."""
        events: list[UnitEvent] = []
        self._remember(state, fix)
        if state.unit is not None:
            self._check_exit(state, fix, events)
        stops = self.stops(state)
        if stops:
            self._judge(state, stops, fix, events)
        return events

    def stops(self, state: Occupancy) -> list[Stop]:
        """Where the shopper may stand, if the latest fixes say they stand: every run of latest
        fixes (longest first) whose spread is that of standing and whose two halves do not
        drift apart (a walker's do). A shopper who has just walked in stands on the fixes
        since, not on those of the walk; a longer run, where it holds, is more precise."""
        rules = self.rules
        window = state.window
        found: list[Stop] = []
        for first in range(0, len(window) - rules.min_fixes + 1):
            tail = window[first:]
            if tail[-1][0] - tail[0][0] < rules.min_span_s:
                break  # shorter tails span less still
            stop = self._stop(tail)
            if stop is not None:
                found.append(stop)
                if not rules.every_run:
                    break
        return found

    def _stop(self, tail: list[tuple[float, float, float, int | None]]) -> Stop | None:
        rules = self.rules
        lon = median(x for _, x, _, _ in tail)
        lat = median(y for _, _, y, _ in tail)
        distances = [self.units.travel_m(lon, lat, x, y) for _, x, y, _ in tail]
        sigma = max(rules.min_sigma_m, median(distances) / _MEDIAN_RADIUS)
        if sigma > rules.max_sigma_m:
            return None
        # The mean of the fixes within 2.5 σ of the median: as precise as a mean, and an
        # outlier 10-20 m away does not move it.
        kept = [w for w, d in zip(tail, distances, strict=True) if d <= 2.5 * sigma]
        half = len(kept) // 2
        early, late = _mean(kept[:half]), _mean(kept[half:])
        if self.units.travel_m(*early, *late) > max(rules.max_drift_m, 2 * sigma):
            return None  # walking: the later fixes are elsewhere than the earlier ones
        lon, lat = _mean(kept)
        return Stop(lon, lat, sigma, sigma / math.sqrt(len(kept)), len(kept), tail[0][0])

    def end(self, state: Occupancy, *, at: float, reason: str) -> list[UnitEvent]:
        """Leave the unit now (timeout, another mall); the window is forgotten too."""
        events: list[UnitEvent] = []
        if state.unit is not None:
            events.append(UnitEvent("exit", state.unit, at, reason=reason))
        state.unit = state.entered_at = state.candidate = None
        state.outside = state.streak = 0
        state.window.clear()
        return events

    def _remember(self, state: Occupancy, fix: Fix) -> None:
        rules = self.rules
        window = [w for w in state.window if w[3] == fix.level and fix.ts - w[0] <= rules.window_s]
        window.append((fix.ts, fix.lon, fix.lat, fix.level))
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
        if state.outside >= self.rules.exit_fixes:
            self._leave(state, fix.ts, "left", events)

    def _judge(
        self, state: Occupancy, stops: list[Stop], fix: Fix, events: list[UnitEvent]
    ) -> None:
        candidates = set(fix.units)
        candidates.update(u for u in (state.unit, state.candidate) if u is not None)
        candidates = {u for u in candidates if self.units.zone_level(u) in (fix.level, None)}
        if not candidates:
            return
        # Per unit, the stop that places the shopper in it most surely.
        surest = {u: self._surest(u, stops) for u in candidates}
        confidence = {u: self._inside(u, surest[u]) for u in candidates}
        best = max(sorted(confidence), key=lambda u: confidence[u])
        stop = surest[best]
        wanted = self.rules.enter_confidence
        sure = confidence[best] >= wanted
        state.streak = state.streak + 1 if sure and best == state.candidate else int(sure)
        state.candidate = best
        if state.unit is not None:
            if confidence[state.unit] > 1 - wanted:
                return  # the stop may well be in the unit the shopper is in: stay
            elsewhere = best != state.unit and confidence[best] >= wanted
            here = surest[state.unit]
            depth = self.units.depth_m(state.unit, here.lon, here.lat)
            if not elsewhere and depth > -self.rules.exit_margin_m:
                return  # standing near its wall, in no other unit: a small unit's noise
            self._leave(state, fix.ts, "moved", events)
        if sure and state.streak >= self.rules.confirmations:
            state.unit, state.entered_at, state.outside, state.streak = best, fix.ts, 0, 0
            events.append(UnitEvent("enter", best, fix.ts, round(confidence[best], 3),
                                    stop.since, stop.fixes))  # fmt: skip

    def _surest(self, unit: int, stops: list[Stop]) -> Stop:
        return max(stops, key=lambda stop: self._inside(unit, stop))

    def _inside(self, unit: int, stop: Stop) -> float:
        depth = self.units.depth_m(unit, stop.lon, stop.lat)
        if math.isinf(depth):
            return 0.0
        return 0.5 * (1 + math.erf(depth / (stop.standard_error_m * math.sqrt(2))))

    def _leave(self, state: Occupancy, at: float, reason: str, events: list[UnitEvent]) -> None:
        assert state.unit is not None
        events.append(UnitEvent("exit", state.unit, at, reason=reason))
        state.unit = state.entered_at = None
        state.outside = 0
        # The fixes that placed the shopper inside say nothing of where they are now.
        state.window = state.window[-1:]


def _mean(fixes: list[tuple[float, float, float, int | None]]) -> tuple[float, float]:
    return (
        sum(x for _, x, _, _ in fixes) / len(fixes),
        sum(y for _, _, y, _ in fixes) / len(fixes),
    )
