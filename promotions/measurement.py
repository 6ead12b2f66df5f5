"""Conversion and incremental lift against the holdout group. Pure.

Units are shopper-offer pairs: a pair is treated when the engine chose the offer for the shopper
and sent it, held out when it chose it and the pair fell in the holdout (same rule, no push).
A pair converts when the shopper redeemed the offer within the attribution window. The lift is
treated conversion minus holdout conversion, with a 95% Newcombe interval for the difference of
two independent proportions (statsmodels), and the relative lift as their ratio.

Revenue (issue 15) is measured the same way, on the pairs whose shopper is a loyalty member:
conversion is a purchase in the offer's store within the purchase window; incremental revenue
per shopper the difference of the arms' mean spend there (zero for those who did not buy), with
Welch's interval; average order value the arms' revenue over purchases, with a delta-method
interval; churn no purchase anywhere in the mall within the churn window, over the pairs whose
window has ended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm as normal
from scipy.stats import t as student_t
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
            treated_conversions,
            treated,
            holdout_conversions,
            holdout,
            method="newcomb",
            compare="diff",
            alpha=alpha,
        )
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


# -- revenue: what treated shoppers bought against the held-out ----------------------------------


@dataclass(frozen=True)
class Unit:
    """A shopper-offer pair with a loyalty member behind it, and what the member bought after
    the decision: in the offer's store within the purchase window, and anywhere in the mall
    within the churn window (None while that window has not ended)."""

    revenue: float
    purchases: int
    churned: bool | None


@dataclass(frozen=True)
class Interval:
    estimate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class RevenueLift:
    treated: int
    holdout: int
    conversion_treated: float | None  # bought in the offer's store within the window
    conversion_holdout: float | None
    conversion_lift: Interval  # difference of proportions, Newcombe
    revenue_per_shopper_treated: float | None
    revenue_per_shopper_holdout: float | None
    incremental_revenue_per_shopper: Interval  # difference of means, Welch
    aov_treated: float | None
    aov_holdout: float | None
    aov_difference: Interval  # difference of ratios of means, delta method
    churn_units_treated: int  # pairs whose churn window has ended
    churn_units_holdout: int
    churn_treated: float | None
    churn_holdout: float | None
    churn_difference: Interval  # difference of proportions, Newcombe


_NONE = Interval(None, None, None)


def revenue_lift(treated: list[Unit], holdout: list[Unit], *, alpha: float = 0.05) -> RevenueLift:
    t_rev = np.array([u.revenue for u in treated], dtype=float)
    h_rev = np.array([u.revenue for u in holdout], dtype=float)
    t_n = np.array([u.purchases for u in treated], dtype=float)
    h_n = np.array([u.purchases for u in holdout], dtype=float)
    t_buy, h_buy = int((t_n > 0).sum()), int((h_n > 0).sum())
    t_churn = [u.churned for u in treated if u.churned is not None]
    h_churn = [u.churned for u in holdout if u.churned is not None]
    return RevenueLift(
        treated=len(treated),
        holdout=len(holdout),
        conversion_treated=_share(t_buy, len(treated)),
        conversion_holdout=_share(h_buy, len(holdout)),
        conversion_lift=_proportions(t_buy, len(treated), h_buy, len(holdout), alpha),
        revenue_per_shopper_treated=_mean(t_rev),
        revenue_per_shopper_holdout=_mean(h_rev),
        incremental_revenue_per_shopper=_welch(t_rev, h_rev, alpha),
        aov_treated=_ratio(t_rev, t_n),
        aov_holdout=_ratio(h_rev, h_n),
        aov_difference=_ratio_difference(t_rev, t_n, h_rev, h_n, alpha),
        churn_units_treated=len(t_churn),
        churn_units_holdout=len(h_churn),
        churn_treated=_share(sum(t_churn), len(t_churn)),
        churn_holdout=_share(sum(h_churn), len(h_churn)),
        churn_difference=_proportions(
            sum(t_churn), len(t_churn), sum(h_churn), len(h_churn), alpha
        ),
    )


def _share(count: int, total: int) -> float | None:
    return _rounded(count / total) if total else None


def _mean(values: np.ndarray) -> float | None:
    return _rounded(float(values.mean())) if len(values) else None


def _ratio(revenue: np.ndarray, purchases: np.ndarray) -> float | None:
    return _rounded(float(revenue.sum() / purchases.sum())) if purchases.sum() else None


def _proportions(x1: int, n1: int, x0: int, n0: int, alpha: float) -> Interval:
    if not n1 or not n0:
        return _NONE
    low, high = confint_proportions_2indep(
        x1, n1, x0, n0, method="newcomb", compare="diff", alpha=alpha
    )
    return Interval(_rounded(x1 / n1 - x0 / n0), _rounded(float(low)), _rounded(float(high)))


def _welch(a: np.ndarray, b: np.ndarray, alpha: float) -> Interval:
    """Difference of means with Welch's t interval: revenue is skewed and its spread differs
    between the arms; with hundreds of shoppers an arm the mean is near normal."""
    if len(a) < 2 or len(b) < 2:
        return _NONE
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    difference = float(a.mean() - b.mean())
    if va + vb == 0:
        return Interval(_rounded(difference), _rounded(difference), _rounded(difference))
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(student_t.ppf(1 - alpha / 2, df)) * math.sqrt(va + vb)
    return Interval(_rounded(difference), _rounded(difference - half), _rounded(difference + half))


def _ratio_difference(
    rev1: np.ndarray, n1: np.ndarray, rev0: np.ndarray, n0: np.ndarray, alpha: float
) -> Interval:
    """AOV (revenue / purchases over an arm) differs by ratio; its variance by the delta
    method: Var(R) ~ Var(revenue - R * purchases) / (n * mean purchases^2)."""
    if len(n1) < 2 or len(n0) < 2 or not n1.sum() or not n0.sum():
        return _NONE

    def ratio_and_variance(rev: np.ndarray, n: np.ndarray) -> tuple[float, float]:
        ratio = float(rev.sum() / n.sum())
        return ratio, float((rev - ratio * n).var(ddof=1) / (len(n) * n.mean() ** 2))

    (r1, v1), (r0, v0) = ratio_and_variance(rev1, n1), ratio_and_variance(rev0, n0)
    half = float(normal.ppf(1 - alpha / 2)) * math.sqrt(v1 + v0)
    return Interval(_rounded(r1 - r0), _rounded(r1 - r0 - half), _rounded(r1 - r0 + half))
