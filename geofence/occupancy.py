"""Which unit (store, restaurant, restroom) a shopper is in, from the fixes of a stop. Pure.

A single fix is not where the shopper is: indoors it is off by metres, now and then by tens of
metres. A shopper who is in a store stands, or moves slowly, for minutes; one who walks past or
through it does not. So a unit is entered on a *stop*:

- A stop begins when the latest fixes (at least `min_fixes`, spanning at least `min_span_s`,
  within `window_s`) have the spread of someone standing (σ estimated from them at most
  `max_sigma_m`) and their earlier and later halves do not drift apart (a walker's do).
- It then grows with every fix that falls within `gate_m` (or 3 σ) of it, kept as running sums:
  where the shopper stands is the mean of its fixes, known to σ/√n. The longer they stand, the
  better it is known, whatever the window. `exit_fixes` fixes in a row beyond the gate, another
  floor, a silence longer than `window_s`, or a spread grown to a walker's end it (one outlier
  ends nothing).
- The enter's confidence is the probability that the shopper stands inside the unit:
  Φ(depth / standard error), depth being the metres from the stop to the unit's outline (positive
  inside). A unit is entered when that is at least `enter_confidence` on `confirmations`
  judgements in a row. A big store is entered on the first fixes of a stop; a kiosk when enough
  fixes agree: the dwell needed scales with the unit's size and the fixes' spread by itself.

Leaving takes evidence too: `exit_fixes` fixes in a row farther than `exit_margin_m` outside
the unit, a stop confidently elsewhere, another floor, or silence (the caller's timeout).

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
_M_PER_DEG = 111_320.0  # along a meridian; along a parallel, times cos(latitude)

Point = tuple[float, float, float, int | None]  # ts, lon, lat, level
_STOP_FIELDS = 14


@dataclass(frozen=True)
class OccupancyRules:
    window_s: float = 45.0
    sparse_s: float = 150.0  # the longest window and silence within a stop, for sparse fixes
    max_fixes: int = 8
    min_fixes: int = 3
    min_span_s: float = 12.0
    max_drift_m: float = 3.0  # halves of a stop farther apart than this (or 2 σ): walking
    drift_sigma_m: float = 2.0  # the most noise the drift test allows for: a walk spreads fixes
    max_sigma_m: float = 5.0  # a spread wider than this is a shopper walking, not standing
    min_sigma_m: float = 1.0  # never trust a stop to better than this
    error_sigma_m: float = 2.0  # the positioning's error per axis, as far as a stop cannot tell
    offset_share: float = 0.25  # of its variance, an offset that lasts a whole stop
    correlation_s: float = 30.0  # how long the error of a standing shopper's fixes lasts
    spread_understated: float = 1.3  # correlated fixes spread this much less than they err
    correlation_prior: float = 0.5  # lag-1 correlation of fixes, before a stop shows its own
    correlation_weight: float = 6.0  # ... worth this many pairs of fixes
    white_below: float = 0.2  # fixes less correlated than this are taken as independent
    correlated_at: float = 0.5  # fixes this correlated carry the whole lasting error
    tail_share: float = 0.2  # of correlated errors, a share `tail_scale` times as wide
    tail_scale: float = 3.0
    sigma_weight: float = 4.0  # the positioning's error counts as this many fixes' spread
    gate_m: float = 6.0  # a fix this close to the stop (or 3 σ) belongs to it
    enter_confidence: float = 0.9
    confirmations: int = 2  # sure judgements in a row, on fixes of the stop, before an enter
    exit_fixes: int = 3
    exit_margin_m: float = 4.0


@dataclass(frozen=True)
class Fix:
    ts: float
    lon: float
    lat: float
    level: int | None
    units: frozenset[int]  # the units the fix lies in (the ZoneIndex says)


@dataclass
class Stop:
    """Running sums of the fixes of one stop, in metres east and north of its first fix."""

    since: float
    last: float
    level: int | None
    lon0: float
    lat0: float
    n: int = 0
    sx: float = 0.0
    sy: float = 0.0
    sxx: float = 0.0
    syy: float = 0.0
    misses: int = 0  # fixes in a row beyond the gate
    lag: float = 0.0  # the sum of x·x' + y·y' over consecutive fixes: how much they repeat
    px: float = 0.0  # the latest fix
    py: float = 0.0

    def offset(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            (lon - self.lon0) * _M_PER_DEG * math.cos(math.radians(self.lat0)),
            (lat - self.lat0) * _M_PER_DEG,
        )

    def add(self, ts: float, lon: float, lat: float) -> None:
        x, y = self.offset(lon, lat)
        if self.n:
            self.lag += x * self.px + y * self.py
        self.n += 1
        self.px, self.py = x, y
        self.sx, self.sy = self.sx + x, self.sy + y
        self.sxx, self.syy = self.sxx + x * x, self.syy + y * y
        self.last, self.misses = ts, 0

    def centre(self) -> tuple[float, float]:
        """Where the shopper stands, as lon, lat."""
        x, y = self.sx / self.n, self.sy / self.n
        return (
            self.lon0 + x / (_M_PER_DEG * math.cos(math.radians(self.lat0))),
            self.lat0 + y / _M_PER_DEG,
        )

    def sigma_m(self, floor: float) -> float:
        """Spread of the fixes about their mean, per axis."""
        if self.n < 2:
            return floor
        mx, my = self.sx / self.n, self.sy / self.n
        spread = max(0.0, self.sxx / self.n - mx * mx + self.syy / self.n - my * my)
        return max(floor, math.sqrt(spread / 2 * self.n / (self.n - 1)))

    def correlation(self, rules: OccupancyRules) -> float:
        """How much each fix repeats the error of the one before (lag-1 autocorrelation about
        the mean, both axes), drawn towards `rules.correlation_prior` while the fixes are few."""
        pairs = self.n - 1
        if pairs < 1:
            return rules.correlation_prior
        mx, my = self.sx / self.n, self.sy / self.n
        # Σ (x_i - m)(x_{i-1} - m) from the sums; the first fix is the origin (x_1 = 0).
        lagged = (
            self.lag
            - mx * (2 * self.sx - self.px)
            - my * (2 * self.sy - self.py)
            + pairs * (mx * mx + my * my)
        )
        spread = self.sxx - self.n * mx * mx + self.syy - self.n * my * my
        # About a mean estimated from the same fixes, white noise shows -1/n: taken back.
        seen = lagged / spread + 1 / self.n if spread > 1e-9 else rules.correlation_prior
        weight = rules.correlation_weight
        rho = (pairs * seen + weight * rules.correlation_prior) / (pairs + weight)
        return min(0.95, max(0.0, rho))

    def correlated(self, rules: OccupancyRules) -> float:
        """0 for fixes whose errors are independent, 1 for fixes that repeat their errors."""
        low, high = rules.white_below, rules.correlated_at
        return min(1.0, max(0.0, (self.correlation(rules) - low) / (high - low)))

    def standard_error_m(self, rules: OccupancyRules) -> float:
        """How far the stop's centre may be from where the shopper stands, per axis.

        Fixes whose errors are independent (their lag-1 correlation about 0) average theirs
        away as σ/√n, σ from their spread. Real indoor positioning repeats its error: while a
        shopper stands, an error that lasts `correlation_s` (an Ornstein-Uhlenbeck process)
        averages away only with the stop's span, an offset holding `offset_share` of its
        variance not at all, and the fixes' spread understates the error (the positioning's
        `error_sigma_m` is the least it is taken to be). The fixes' own correlation says
        which of the two they show, in between in proportion. Counting correlated fixes as
        independent made a bias of half a minute look certain."""
        seen, weight = self.sigma_m(rules.min_sigma_m), rules.sigma_weight
        white_sigma = math.sqrt(
            ((self.n - 1) * seen**2 + weight * rules.error_sigma_m**2) / (self.n - 1 + weight)
        )
        correlated = self.correlated(rules)
        span = max(self.last - self.since, 1e-3) / rules.correlation_s
        averaged = 2 / span * (1 - (1 - math.exp(-span)) / span)  # Var(mean) / σ² of an OU
        share = rules.offset_share
        correlated_sigma = max(rules.error_sigma_m, rules.spread_understated * seen)
        white = (1 - correlated) * white_sigma**2 / self.n
        lasting = correlated * correlated_sigma**2 * (share + (1 - share) * min(1.0, averaged))
        return math.sqrt(white + lasting)

    def distance_m(self, lon: float, lat: float) -> float:
        x, y = self.offset(lon, lat)
        return math.hypot(x - self.sx / self.n, y - self.sy / self.n)

    def to_json(self) -> list[Any]:
        return [
            round(self.since, 3),
            round(self.last, 3),
            self.level,
            self.lon0,
            self.lat0,
            self.n,
            round(self.sx, 3),
            round(self.sy, 3),
            round(self.sxx, 3),
            round(self.syy, 3),
            self.misses,
            round(self.lag, 3),
            round(self.px, 3),
            round(self.py, 3),
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> Stop | None:
        """None for a stop kept by an earlier release, which lacks the sums of today's: the
        window of fixes seeds it again."""
        if len(data) != _STOP_FIELDS:
            return None
        return cls(*data)


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
    candidate: int | None = None  # the unit the last judgement pointed to, confirmed or not
    streak: int = 0  # judgements in a row that were sure of the candidate
    stop: Stop | None = None
    window: list[Point] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "entered_at": self.entered_at,
            "outside": self.outside,
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
        if state.outside >= self.rules.exit_fixes:
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
            self._leave(state, fix.ts, "moved", events)
        if sure and state.streak >= self.rules.confirmations:
            state.unit, state.entered_at, state.outside, state.streak = best, fix.ts, 0, 0
            events.append(
                UnitEvent("enter", best, fix.ts, round(confidence[best], 3), stop.since, stop.n)
            )

    def _posterior(self, state: Occupancy, candidates: set[int], lon: float, lat: float,
                   error_m: float, level: int | None) -> dict[int, float]:  # fmt: skip
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
