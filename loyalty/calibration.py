"""How well the lifetime model predicts, as Fader, Hardie and Lee checked it: fit BG/NBD on a
calibration period, predict each customer's repeat purchases in the holdout period that follows,
and compare with what they did. Pure (numpy, and the fit of loyalty.lifetime).

Reported: per-customer mean absolute error and correlation, against a naive forecast (each
customer keeps their calibration rate of repeat purchases); the totals; the paper's figure 4
(cumulative repeat purchases week by week, predicted from each customer's first purchase on);
and its figure 5 (mean holdout purchases by the customers' calibration frequency, 0 to 7+).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loyalty.lifetime import BgNbd, Floats, expected_purchases, expected_total, fit_bgnbd
from loyalty.lifetime import summarise_days as _summarise_days


@dataclass(frozen=True)
class Calibration:
    customers: int
    calibration_weeks: float
    holdout_weeks: float
    model: BgNbd
    total_actual: int
    total_predicted: float
    mae: float
    mae_naive: float
    correlation: float
    weeks: list[int] = field(default_factory=list)
    cumulative_actual: list[int] = field(default_factory=list)
    cumulative_predicted: list[float] = field(default_factory=list)
    by_frequency: list[tuple[str, int, float, float]] = field(default_factory=list)


def calibrate(
    customer: np.ndarray,
    day: np.ndarray,
    amount: Floats,
    start: int,
    calibration_end: int,
    holdout_end: int,
    model: BgNbd | None = None,
) -> Calibration:
    """Purchases as one row per customer and purchase day (days as integers); the calibration
    period is [start, calibration_end], the holdout (calibration_end, holdout_end]. Customers
    are those whose first purchase falls in the calibration period."""
    first_day = _first_days(customer, day)
    cohort = np.isin(customer, [c for c, d in first_day.items() if start <= d <= calibration_end])
    customer, day, amount = customer[cohort], day[cohort], amount[cohort]
    inside = day <= calibration_end
    summary = _summarise_days(customer[inside], day[inside], amount[inside], calibration_end)
    fitted = model or fit_bgnbd(summary)
    holdout_weeks = (holdout_end - calibration_end) / 7
    predicted = expected_purchases(fitted, summary, holdout_weeks)
    number = {c: i for i, c in enumerate(summary.customers)}
    later = ~inside & (day <= holdout_end)
    actual = np.bincount([number[c] for c in customer[later]], minlength=len(number))
    naive = summary.frequency / np.maximum(summary.T, 1 / 7) * holdout_weeks
    weeks, cumulative, curve = _cumulative(
        fitted, summary.T, calibration_end, customer, day, first_day, start, holdout_end
    )
    return Calibration(
        customers=len(number),
        calibration_weeks=(calibration_end - start + 1) / 7,
        holdout_weeks=holdout_weeks,
        model=fitted,
        total_actual=int(actual.sum()),
        total_predicted=float(predicted.sum()),
        mae=float(np.mean(np.abs(predicted - actual))),
        mae_naive=float(np.mean(np.abs(naive - actual))),
        correlation=float(np.corrcoef(predicted, actual)[0, 1]),
        weeks=weeks,
        cumulative_actual=cumulative,
        cumulative_predicted=curve,
        by_frequency=_by_frequency(summary.frequency, actual, predicted),
    )


def _first_days(customer: np.ndarray, day: np.ndarray) -> dict[Any, int]:
    first: dict[Any, int] = {}
    for c, d in zip(customer.tolist(), day.tolist(), strict=True):
        if c not in first or d < first[c]:
            first[c] = d
    return first


def _cumulative(
    model: BgNbd,
    T: Floats,
    calibration_end: int,
    customer: np.ndarray,
    day: np.ndarray,
    first_day: dict[Any, int],
    start: int,
    holdout_end: int,
) -> tuple[list[int], list[int], list[float]]:
    """Repeat purchases up to the end of each week from `start`: counted, and the sum over
    customers of E[X(t)] from their own first purchase (the paper's figure 4)."""
    firsts = calibration_end - T * 7  # each customer's first purchase day
    repeat = day != np.array([first_day[c] for c in customer.tolist()])
    weeks = list(range(1, (holdout_end - start) // 7 + 1))
    counted, expected = [], []
    for week in weeks:
        end = start + 7 * week - 1
        counted.append(int((repeat & (day <= end)).sum()))
        ages = np.maximum(end - firsts, 0) / 7
        expected.append(round(float(expected_total(model, ages).sum()), 1))
    return weeks, counted, expected


def _by_frequency(
    frequency: Floats, actual: np.ndarray, predicted: Floats
) -> list[tuple[str, int, float, float]]:
    rows = []
    for x in range(8):
        chosen = frequency == x if x < 7 else frequency >= 7
        label = str(x) if x < 7 else "7+"
        if chosen.any():
            rows.append(
                (
                    label,
                    int(chosen.sum()),
                    round(float(actual[chosen].mean()), 3),
                    round(float(predicted[chosen].mean()), 3),
                )
            )
    return rows
