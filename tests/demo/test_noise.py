"""The positioning noise models of demo/noise.py: what bench/presence.py and the demo's
shoppers carry must be what their documentation says."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np

from demo.noise import NoiseModel, ReplayNoise, Trace, floor_run_s, load_traces


def standing_errors(noise: NoiseModel, seconds: int, seed: int) -> np.ndarray:
    track = noise.track(random.Random(seed))
    return np.array([track.error(float(t), False)[:2] for t in range(seconds)])


def test_white_noise_is_fresh_at_every_fix() -> None:
    errors = standing_errors(NoiseModel(2.0, outlier_share=0.0), 4000, 1)
    assert 1.9 < float(errors[:, 0].std()) < 2.1
    assert abs(float(np.corrcoef(errors[:-1, 0], errors[1:, 0])[0, 1])) < 0.05


def test_correlated_noise_lasts_its_correlation_time_and_keeps_its_offset() -> None:
    noise = NoiseModel.correlated(tau_s=30.0)
    noise = NoiseModel(**{**noise.__dict__, "outlier_episodes_per_min": 0.0})
    lag_30, lag_1, spread, offsets = [], [], [], []
    for seed in range(200):
        errors = standing_errors(noise, 600, seed)
        x = errors[:, 0]
        lag_1.append(np.corrcoef(x[:-1], x[1:])[0, 1])
        lag_30.append(np.corrcoef(x[:-30], x[30:])[0, 1])
        spread.append(x.std())
        offsets.append(x.mean())
    # Stationary σ = 2 m, a quarter of its variance an offset held for the whole walk: across
    # walks the mean of one is off by about 1 m; within one, the error repeats itself.
    assert 1.85 < math.sqrt(np.mean(np.square(offsets)) + np.mean(np.square(spread))) < 2.15
    assert 0.8 < float(np.std(offsets)) < 1.4
    assert float(np.mean(lag_1)) > 0.9
    # About the walk's own mean, the OU part decorrelates over τ: e^-1 at 30 s.
    assert 0.2 < float(np.mean(lag_30)) < 0.5


def test_walking_decorrelates_the_error_faster_than_standing() -> None:
    noise = NoiseModel.correlated(tau_s=120.0)
    walking, standing = noise.track(random.Random(3)), noise.track(random.Random(3))
    walk = np.array([walking.error(float(t), True)[0] for t in range(0, 3000, 6)])
    stand = np.array([standing.error(float(t), False)[0] for t in range(0, 3000, 6)])
    assert np.corrcoef(walk[:-1], walk[1:])[0, 1] < np.corrcoef(stand[:-1], stand[1:])[0, 1]


def test_wrong_floor_runs_are_mostly_short_some_long_mostly_one_floor() -> None:
    rng = random.Random(5)
    runs = [floor_run_s(rng) for _ in range(4000)]
    assert 3.0 < float(np.median(runs)) < 6.0
    assert 0.08 < float(np.mean(np.array(runs) >= 20)) < 0.18
    assert max(runs) <= 50.0
    track = NoiseModel(2.0, floor_runs_per_min=0.5).track(random.Random(6))
    offs = [track.error(float(t), False)[2] for t in range(36_000)]
    starts = sum(1 for a, b in itertools.pairwise(offs) if a == 0 and b != 0)
    assert 200 < starts < 400  # 0.5 a minute over 600 minutes
    wrong = [o for o in offs if o]
    assert 0.6 < sum(1 for o in wrong if abs(o) == 1) / len(wrong) < 0.9


def test_a_replayed_trace_advances_slower_while_the_shopper_stands() -> None:
    trace = Trace(t=tuple(float(t) for t in range(11)), ex=tuple(float(t) for t in range(11)),
                  ey=(0.0,) * 11, floor_off=(0,) * 11)  # fmt: skip
    noise = ReplayNoise([trace], standing_rate=0.25)
    walking, standing = noise.track(random.Random(1)), noise.track(random.Random(1))
    start = walking.error(0.0, True)[0]
    assert standing.error(0.0, False)[0] == start
    # Four seconds later: four seconds of the tape while walking, one while standing (the
    # tape plays back and forth, so distance along it is what is compared).
    assert abs(walking.error(4.0, True)[0] - start) == 4.0
    assert abs(standing.error(4.0, False)[0] - start) == 1.0


def test_the_real_wifi_errors_of_the_demo_mall_load() -> None:
    traces = load_traces()
    assert len(traces) > 400
    errors = np.array([math.hypot(x, y) for t in traces for x, y in zip(t.ex, t.ey, strict=True)])
    assert 4.0 < float(np.median(errors)) < 6.0  # its README: a median of 5.0 m
    assert any(off for t in traces for off in t.floor_off)
