"""The reported lift is honest: its 95% interval covers the true lift about 95% of the time."""

from __future__ import annotations

import uuid

import numpy as np

from promotions.engine import in_holdout
from promotions.measurement import lift


def simulate(seed: int, shoppers: int, p_holdout: float, p_treated: float) -> bool:
    """Shoppers are split by the engine's own holdout rule; each redeems with a known
    probability with and without the push. Whether the interval covers the true lift."""
    rng = np.random.default_rng(seed)
    offer_id = seed  # another offer each run: another split of the same shoppers
    held = np.array([in_holdout(uuid.UUID(int=i), offer_id, 0.10) for i in range(shoppers)])
    redeemed = rng.random(shoppers) < np.where(held, p_holdout, p_treated)
    result = lift(
        int(redeemed[~held].sum()), int((~held).sum()), int(redeemed[held].sum()), int(held.sum())
    )
    assert result.ci_low is not None
    assert result.ci_high is not None
    return result.ci_low <= p_treated - p_holdout <= result.ci_high


def test_interval_covers_the_true_lift_in_at_least_90_of_100_runs() -> None:
    covered = sum(simulate(seed, shoppers=4000, p_holdout=0.05, p_treated=0.08)
                  for seed in range(100))  # fmt: skip
    assert covered >= 90


def test_no_effect_is_not_reported_as_a_lift() -> None:
    covered = sum(simulate(seed, shoppers=4000, p_holdout=0.06, p_treated=0.06)
                  for seed in range(100, 150))  # fmt: skip
    assert covered >= 45  # zero lies inside the interval almost every time


def test_figures() -> None:
    result = lift(80, 1000, 5, 100)
    assert result.treated_rate == 0.08
    assert result.holdout_rate == 0.05
    assert result.lift == 0.03
    assert result.relative_lift == 0.6
    assert result.ci_low is not None
    assert result.ci_high is not None
    assert result.ci_low < 0.03 < result.ci_high
    empty = lift(0, 0, 0, 0)
    assert (empty.treated_rate, empty.lift, empty.ci_low) == (None, None, None)
