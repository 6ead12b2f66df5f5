"""A stop: the fixes of a shopper who stands (or browses) in one place, kept as running sums,
and how far its centre may be from where they really stand. Pure.

Indoor positioning does not err afresh at every fix. While a shopper stands, the phone hears the
same radios, and the same wrong position persists: fixes whose errors repeat each other are
worth fewer independent ones, and part of the error is an offset that lasts the whole stop,
which no number of fixes averages away. `Stop.standard_error_m` says so, from what the fixes
themselves show (how much each repeats the one before) and from what they cannot show (the
positioning's error, `OccupancyRules.error_sigma_m`). docs/geofencing.md has the model and its
calibration, bench/presence.py measures it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_M_PER_DEG = 111_320.0  # along a meridian; along a parallel, times cos(latitude)
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
    tail_share: float = 0.1  # of correlated errors, a share `tail_scale` times as wide
    tail_scale: float = 3.0
    sigma_weight: float = 4.0  # the positioning's error counts as this many fixes' spread
    gate_m: float = 6.0  # a fix this close to the stop (or 3 σ) belongs to it
    enter_confidence: float = 0.9
    confirmations: int = 2  # sure judgements in a row, on fixes of the stop, before an enter
    exit_fixes: int = 3
    exit_span_s: float = 20.0
    exit_margin_m: float = 4.0


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
        averaged = ou_mean_share(span)
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


def ou_mean_share(spans: float) -> float:
    """Var(mean) / σ² of an Ornstein-Uhlenbeck process averaged over `spans` correlation
    times: 1 for a moment, 2/x for a long stretch."""
    if spans < 1e-6:
        return 1.0
    return 2 / spans * (1 - (1 - math.exp(-spans)) / spans)
