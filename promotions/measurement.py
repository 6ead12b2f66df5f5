"""Conversion and incremental lift against the holdout group. Pure.

Units are shopper-offer pairs: a pair is treated when the engine chose the offer for the shopper
and sent it, held out when it chose it and the pair fell in the holdout (same rule, no push).
A pair converts when the shopper redeemed the offer within the attribution window. The lift is
treated conversion minus holdout conversion, with a 95% Newcombe interval for the difference of
two independent proportions (statsmodels), and the relative lift as their ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from statsmodels.stats.proportion import confint_proportions_2indep


@dataclass(frozen=True)
class Lift:
    treated: int
    treated_conversions: int
    holdout: int
    holdout_conversions: int
    treated_rate: float | None
    holdout_rate: float | None
    lift: float | None  # treated_rate - holdout_rate
    ci_low: float | None
    ci_high: float | None
    relative_lift: float | None  # treated_rate / holdout_rate - 1


def lift(
    treated_conversions: int,
    treated: int,
    holdout_conversions: int,
    holdout: int,
    *,
    alpha: float = 0.05,
) -> Lift:
    treated_rate = treated_conversions / treated if treated else None
    holdout_rate = holdout_conversions / holdout if holdout else None
    difference = low = high = relative = None
    if treated_rate is not None and holdout_rate is not None:
        difference = treated_rate - holdout_rate
        low, high = confint_proportions_2indep(
            treated_conversions, treated, holdout_conversions, holdout,
            method="newcomb", compare="diff", alpha=alpha,
        )  # fmt: skip
        low, high = float(low), float(high)
        if holdout_rate > 0:
            relative = treated_rate / holdout_rate - 1
    return Lift(
        treated=treated,
        treated_conversions=treated_conversions,
        holdout=holdout,
        holdout_conversions=holdout_conversions,
        treated_rate=_rounded(treated_rate),
        holdout_rate=_rounded(holdout_rate),
        lift=_rounded(difference),
        ci_low=_rounded(low),
        ci_high=_rounded(high),
        relative_lift=_rounded(relative),
    )


def _rounded(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 6)
