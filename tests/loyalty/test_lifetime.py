"""The lifetime model on real data: the CDNOW sample's first 39 weeks give the estimates Fader,
Hardie and Lee published for BG/NBD in 2005 (r 0.243, α 4.414, a 0.793, b 2.426) and Fader and
Hardie for Gamma-Gamma in 2013 (p 6.25, q 3.74, γ 15.44)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from loyalty.lifetime import fit_bgnbd, fit_gamma_gamma, summarise, summarise_days

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)  # 39 weeks after the cohort's first day


def cdnow() -> list[tuple[str, date, float]]:
    rows = []
    for line in CDNOW.read_text().splitlines():
        _, customer, day, _, dollars = line.split()
        rows.append((customer, date(int(day[:4]), int(day[4:6]), int(day[6:])), float(dollars)))
    return rows


def test_the_calibration_summary_is_the_paper_s() -> None:
    summary = summarise(cdnow(), CALIBRATION_END)
    assert len(summary.customers) == 2357
    # The paper's descriptives: 1,411 of 2,357 made no repeat purchase in the 39 weeks.
    assert int((summary.frequency == 0).sum()) == 1411
    # Lifetimes' own summary of the same file, computed by other code, to two decimals.
    theirs: dict[str, list[float]] = {}
    summary_file = CDNOW.parent / "cdnow_customers_summary_with_transactions.csv"
    for line in summary_file.read_text().splitlines()[1:]:
        customer, *figures = line.split(",")
        theirs[f"{int(customer):04d}"] = [float(figure) for figure in figures]
    assert sorted(theirs) == summary.customers
    for i, customer in enumerate(summary.customers):
        x, t_x, age, zbar = theirs[customer]
        assert summary.frequency[i] == x, customer
        ours = (summary.recency[i], summary.T[i], summary.monetary[i])
        assert ours == pytest.approx((t_x, age, zbar), abs=0.0051), customer  # 2 decimals


def test_no_receipts_summarise_to_no_customers() -> None:
    none = np.zeros(0, dtype=np.int64)
    summary = summarise_days(none, none, np.zeros(0), 20_000)
    assert summary.customers == []
    assert len(summary.frequency) == len(summary.T) == len(summary.monetary) == 0


@pytest.mark.slow  # compiles the model (pytensor): tens of seconds
def test_bgnbd_lands_on_the_published_estimates() -> None:
    fitted = fit_bgnbd(summarise(cdnow(), CALIBRATION_END))
    assert fitted.r == pytest.approx(0.243, abs=0.0005)
    assert fitted.alpha == pytest.approx(4.414, abs=0.0005)
    assert fitted.a == pytest.approx(0.793, abs=0.0005)
    assert fitted.b == pytest.approx(2.426, abs=0.0005)


@pytest.mark.slow  # compiles the model (pytensor)
def test_gamma_gamma_lands_on_the_published_estimates() -> None:
    fitted = fit_gamma_gamma(summarise(cdnow(), CALIBRATION_END))
    # Printed to two decimals: 6.25, 3.74, 15.44.
    assert fitted.p == pytest.approx(6.25, abs=0.005)
    assert fitted.q == pytest.approx(3.74, abs=0.006)
    assert fitted.v == pytest.approx(15.44, abs=0.01)
