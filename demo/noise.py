"""Indoor positioning noise, as the demo's shoppers and bench/presence.py both apply it. Pure.

Real indoor positioning (Wi-Fi fingerprinting, BLE, their fusion with the phone's motion
sensors) is not off by fresh noise at every fix. Measured against ground truth on real phone
logs (the ILC mall's in `wifi-errors/`, another mall's in issue 27):

- the error lasts: while the phone moves, its core is correlated over 5-15 s (6-9 m of path);
  a person standing still keeps hearing the same radios, so the same wrong position persists
  for as long as they stand;
- part of it is an offset held for a whole walk (20-47% of the error's variance);
- now and then it jumps 10-20 m for a few seconds (an outlier episode);
- the floor is wrong in runs (about 0.5 a minute, a median of ~5 s, some ~50 s, mostly one
  floor off).

`NoiseModel` draws such errors: per axis, an Ornstein-Uhlenbeck process of stationary σ and
correlation time `tau_s` while standing (`walk_tau_s` while walking; `tau_s` 0 is white noise,
fresh at every fix), plus a per-walk offset holding `offset_share` of the variance, outlier
episodes and wrong-floor runs. `ReplayNoise` replays the real Wi-Fi errors of the demo mall.
A `Track` is one phone's errors over one walk.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

WIFI_ERRORS = Path(__file__).resolve().parent / "ilc_site1" / "wifi-errors" / "errors.csv"
WALKING_MPS = 0.5  # slower than this a shopper browses: the radios they hear barely change


class Track(Protocol):
    def error(self, t: float, moving: bool) -> tuple[float, float, int]:
        """Metres east and north between the fix at time `t` and the truth, and how many floors
        the fix is off. Times come in increasing order."""
        ...


class Noise(Protocol):
    @property
    def every_s(self) -> tuple[float, float]: ...

    def track(self, rng: random.Random) -> Track: ...
    def accuracy(self, rng: random.Random) -> float: ...
    def gap(self, rng: random.Random) -> float: ...


@dataclass(frozen=True)
class NoiseModel:
    sigma_m: float = 2.0  # stationary σ per axis, offset included
    tau_s: float = 0.0  # correlation time while standing; 0: white noise
    walk_tau_s: float = 6.0  # correlation time while walking (when tau_s > 0)
    offset_share: float = 0.0  # of the variance, in an offset held for the whole walk
    outlier_share: float = 0.02  # white noise: this share of fixes 10-20 m off
    outlier_episodes_per_min: float = 0.0  # correlated noise: outliers come in episodes
    outlier_episode_s: tuple[float, float] = (2.0, 8.0)
    outlier_m: tuple[float, float] = (10.0, 20.0)
    floor_runs_per_min: float = 0.0  # runs of fixes on the wrong floor
    accuracy_m: tuple[float, float] = (3.0, 8.0)
    every_s: tuple[float, float] = (2.0, 10.0)

    def track(self, rng: random.Random) -> ModelTrack:
        share = self.offset_share
        offset = (
            rng.gauss(0, self.sigma_m * math.sqrt(share)),
            rng.gauss(0, self.sigma_m * math.sqrt(share)),
        )
        return ModelTrack(self, rng, offset)

    def offset(self, rng: random.Random) -> tuple[float, float]:
        """One white fix's error (no track): Gaussian, with the outliers."""
        if rng.random() < self.outlier_share:
            return _outlier(rng, self.outlier_m)
        return rng.gauss(0, self.sigma_m), rng.gauss(0, self.sigma_m)

    def accuracy(self, rng: random.Random) -> float:
        return rng.uniform(*self.accuracy_m)

    def gap(self, rng: random.Random) -> float:
        """Seconds until the next fix."""
        return rng.uniform(*self.every_s)

    @classmethod
    def correlated(cls, tau_s: float = 30.0, sigma_m: float = 2.0) -> NoiseModel:
        """Indoor positioning as it is: an offset per walk (a quarter of the variance), an error
        that lasts `tau_s` while the shopper stands (6 s while walking), outlier episodes of a
        few seconds (0.5 a minute) and wrong-floor runs (0.5 a minute)."""
        return cls(
            sigma_m,
            tau_s=tau_s,
            walk_tau_s=6.0,
            offset_share=0.25,
            outlier_share=0.0,
            outlier_episodes_per_min=0.5,
            floor_runs_per_min=0.5,
        )

    def every(self, mean_s: float) -> NoiseModel:
        """The same noise, fixes every 0.4-2 times `mean_s` / 1.2 (2-10 s for 6 s)."""
        return replace(self, every_s=(0.4 * mean_s / 1.2, 2.0 * mean_s / 1.2))


@dataclass
class ModelTrack:
    model: NoiseModel
    rng: random.Random
    offset: tuple[float, float]
    core: tuple[float, float] | None = None  # the OU state
    last_t: float | None = None
    outlier_until: float = -math.inf
    outlier: tuple[float, float] = (0.0, 0.0)
    floor_until: float = -math.inf
    floor_off: int = 0

    def error(self, t: float, moving: bool) -> tuple[float, float, int]:
        model, rng = self.model, self.rng
        dt = 0.0 if self.last_t is None else max(0.0, t - self.last_t)
        self.last_t = t
        self._episodes(t, dt)
        if model.tau_s <= 0:
            dx, dy = model.offset(rng)
            return dx + self.offset[0], dy + self.offset[1], self.floor_off
        sigma = model.sigma_m * math.sqrt(1 - model.offset_share)
        if self.core is None:
            self.core = (rng.gauss(0, sigma), rng.gauss(0, sigma))
        else:
            keep = math.exp(-dt / (model.walk_tau_s if moving else model.tau_s))
            fresh = sigma * math.sqrt(1 - keep * keep)
            self.core = (
                keep * self.core[0] + fresh * rng.gauss(0, 1),
                keep * self.core[1] + fresh * rng.gauss(0, 1),
            )
        dx, dy = self.core[0] + self.offset[0], self.core[1] + self.offset[1]
        if t < self.outlier_until:
            dx, dy = dx + self.outlier[0], dy + self.outlier[1]
        return dx, dy, self.floor_off

    def _episodes(self, t: float, dt: float) -> None:
        model, rng = self.model, self.rng
        if t >= self.outlier_until and _starts(rng, model.outlier_episodes_per_min, dt):
            self.outlier_until = t + rng.uniform(*model.outlier_episode_s)
            self.outlier = _outlier(rng, model.outlier_m)
        if t >= self.floor_until:
            self.floor_off = 0
            if _starts(rng, model.floor_runs_per_min, dt):
                self.floor_until = t + floor_run_s(rng)
                self.floor_off = rng.choice((-1, 1)) * (1 if rng.random() < 0.75 else 2)


def floor_run_s(rng: random.Random) -> float:
    """How long a wrong-floor run lasts: a median of ~5 s, one in eight 20-50 s."""
    if rng.random() < 0.125:
        return rng.uniform(20.0, 50.0)
    return min(20.0, rng.lognormvariate(math.log(4.0), 0.6))


def _starts(rng: random.Random, per_min: float, dt: float) -> bool:
    return per_min > 0 and rng.random() < 1 - math.exp(-per_min * dt / 60)


def _outlier(rng: random.Random, within: tuple[float, float]) -> tuple[float, float]:
    angle, distance = rng.uniform(0, 2 * math.pi), rng.uniform(*within)
    return distance * math.cos(angle), distance * math.sin(angle)


# -- real errors, replayed -----------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One real walk's errors: seconds from its start, metres east and north, floors off."""

    t: tuple[float, ...]
    ex: tuple[float, ...]
    ey: tuple[float, ...]
    floor_off: tuple[int, ...]

    @property
    def span_s(self) -> float:
        return self.t[-1] - self.t[0]


@dataclass(frozen=True)
class ReplayNoise:
    """Real Wi-Fi errors of the demo mall, replayed onto a simulated walk: each walk takes one
    real trace and reads it, as a tape, at the time of each fix. The trace advances in real time
    while the shopper walks and at `standing_rate` of it while they stand or browse (the radios
    a still phone hears change slowly); at its end it plays backwards, so that a visit keeps the
    trace's offset however long it lasts."""

    traces: Sequence[Trace]
    standing_rate: float = 0.25
    accuracy_m: tuple[float, float] = (3.0, 8.0)
    every_s: tuple[float, float] = (2.0, 10.0)

    def track(self, rng: random.Random) -> ReplayTrack:
        trace = rng.choice(self.traces)
        return ReplayTrack(self, trace, rng.uniform(0, trace.span_s))

    def accuracy(self, rng: random.Random) -> float:
        return rng.uniform(*self.accuracy_m)

    def gap(self, rng: random.Random) -> float:
        return rng.uniform(*self.every_s)


@dataclass
class ReplayTrack:
    noise: ReplayNoise
    trace: Trace
    tape_s: float  # how far into the trace (unfolded: past its span it runs backwards)
    last_t: float | None = None
    _cursor: int = field(default=0, repr=False)

    def error(self, t: float, moving: bool) -> tuple[float, float, int]:
        if self.last_t is not None:
            rate = 1.0 if moving else self.noise.standing_rate
            self.tape_s += max(0.0, t - self.last_t) * rate
        self.last_t = t
        trace = self.trace
        span = max(trace.span_s, 1e-9)
        folded = self.tape_s % (2 * span)
        at = trace.t[0] + (folded if folded <= span else 2 * span - folded)
        i = _index_at(trace.t, at)
        return trace.ex[i], trace.ey[i], trace.floor_off[i]


def _index_at(times: Sequence[float], at: float) -> int:
    """The last sample at or before `at` (a fix carries the latest scan's position)."""
    low, high = 0, len(times) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if times[mid] <= at:
            low = mid
        else:
            high = mid - 1
    return low


def load_traces(path: Path = WIFI_ERRORS, *, min_span_s: float = 10.0) -> list[Trace]:
    """The real traces of `path` (errors.csv of the wifi-errors folder), by walk."""
    ordinal = {"B1": -1, "F1": 0, "F2": 1, "F3": 2, "F4": 3, "F5": 4, "F6": 5}
    rows: dict[str, list[tuple[float, float, float, int]]] = {}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            off = ordinal.get(row["floor_pred"], 0) - ordinal.get(row["floor"], 0)
            rows.setdefault(row["path"], []).append(
                (float(row["t_s"]), float(row["ex"]), float(row["ey"]), off)
            )
    traces = []
    for samples in rows.values():
        samples.sort()
        trace = Trace(*(tuple(column) for column in zip(*samples, strict=True)))
        if trace.span_s >= min_span_s:
            traces.append(trace)
    return traces
