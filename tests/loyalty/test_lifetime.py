"""BG/NBD on real data: the CDNOW sample's first 39 weeks give the estimates Fader, Hardie and
Lee published in 2005 (r 0.243, α 4.414, a 0.793, b 2.426)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from loyalty.lifetime import fit_bgnbd, summarise

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)  # 39 weeks after the cohort's first day


def cdnow() -> list[tuple[str, date]]:
    rows = []
    for line in CDNOW.read_text().splitlines():
        _, customer, day, _, _ = line.split()
        rows.append((customer, date(int(day[:4]), int(day[4:6]), int(day[6:]))))
    return rows


def test_the_calibration_summary_is_the_paper_s() -> None:
    summary = summarise(cdnow(), CALIBRATION_END)
    assert len(summary.customers) == 2357
    # The paper's descriptives: 1,411 of 2,357 made no repeat purchase in the 39 weeks.
    assert int((summary.frequency == 0).sum()) == 1411
    # Lifetimes' own summary of the same file, computed by other code, to two decimals.
    theirs = {}
    for line in (CDNOW.parent / "cdnow_customers_summary.csv").read_text().splitlines()[1:]:
        customer, frequency, recency, age = line.split(",")
        theirs[f"{int(customer):04d}"] = (float(frequency), float(recency), float(age))
    ours = {c: (f, round(float(r), 2), round(float(t), 2)) for c, f, r, t in zip(
        summary.customers, summary.frequency, summary.recency, summary.T, strict=True)}  # fmt: skip
    assert ours == theirs


@pytest.mark.slow  # compiles the model (pytensor): tens of seconds
def test_bgnbd_lands_on_the_published_estimates() -> None:
    fitted = fit_bgnbd(summarise(cdnow(), CALIBRATION_END))
    assert fitted.r == pytest.approx(0.243, abs=0.0005)
    assert fitted.alpha == pytest.approx(4.414, abs=0.0005)
    assert fitted.a == pytest.approx(0.793, abs=0.0005)
    assert fitted.b == pytest.approx(2.426, abs=0.0005)
