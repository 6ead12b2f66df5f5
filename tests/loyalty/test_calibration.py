"""What the fitted model predicts: each member's chance of still buying, purchases ahead and
spend, checked against the papers' worked example, against members drawn with a known truth,
and on real data in a calibration/holdout split (docs/lifetime-report.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from loyalty.calibration import calibrate
from loyalty.lifetime import (
    BgNbd,
    GammaGamma,
    Summary,
    expected_purchases,
    expected_spend,
    p_alive,
)
from loyalty.synthetic import draw

PAPER = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)  # Fader, Hardie & Lee 2005, CDNOW
CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"


def one(x: float, t_x: float, T: float, mean: float = 0.0) -> Summary:
    return Summary([0], np.array([x]), np.array([t_x]), np.array([T]), np.array([mean]))


def test_the_papers_worked_example() -> None:
    # Fader, Hardie & Lee's example customer: 2 repeat purchases, the last in week 30.43 of
    # 38.86, expects 1.226 purchases in the next 39 weeks.
    assert expected_purchases(PAPER, one(2, 30.43, 38.86), 39)[0] == pytest.approx(1.226, abs=5e-4)


def test_p_alive_falls_with_silence_and_is_one_without_a_repeat() -> None:
    assert p_alive(PAPER, one(0, 0, 30))[0] == 1.0
    recent, silent = p_alive(PAPER, one(5, 29, 30))[0], p_alive(PAPER, one(5, 5, 30))[0]
    assert 0 < silent < recent < 1


def test_spend_shrinks_towards_the_population_by_how_little_is_known() -> None:
    model = GammaGamma(p=6.25, q=3.74, v=15.44)  # Fader & Hardie 2013, CDNOW
    population = model.v * model.p / (model.q - 1)  # 35.22
    few, many = expected_spend(model, one(1, 10, 30, 100.0)), expected_spend(
        model, one(20, 29, 30, 100.0))  # fmt: skip
    assert population < few[0] < many[0] < 100.0
    assert expected_spend(model, one(1, 10, 30, population))[0] == pytest.approx(population)


def test_known_truth_the_holdout_total_is_predicted() -> None:
    # Members drawn from the model: with the true parameters, the prediction of each one's
    # purchases in the 26 weeks after calibration adds up to what they then did.
    truth = BgNbd(r=0.8, alpha=6.0, a=0.8, b=4.0)
    drawn = draw(20_000, 364, np.random.default_rng(5), buying=truth, joining_days=84)
    # Every drawn purchase counts (the model's time is continuous: two on one day are two).
    # Rates are heavy-tailed (a few members buy weekly): the totals' own sampling error is
    # about 1.5%, so 5% is three of it, and an error in the prediction shows beyond that.
    report = calibrate(drawn.member, drawn.day, drawn.amount, 0, 181, 363, model=truth)
    assert report.total_predicted == pytest.approx(report.total_actual, rel=0.05)
    assert report.mae < report.mae_naive
    # The cumulative curve, from each member's first purchase on, tracks the count.
    assert report.cumulative_predicted[-1] == pytest.approx(report.cumulative_actual[-1],
                                                            rel=0.05)  # fmt: skip


def cdnow_days() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows: dict[tuple[int, int], float] = {}
    for line in CDNOW.read_text().splitlines():
        _, customer, day, _, dollars = line.split()
        key = (int(customer), date(int(day[:4]), int(day[4:6]), int(day[6:])).toordinal())
        rows[key] = rows.get(key, 0.0) + float(dollars)
    keys = sorted(rows)
    return (np.array([c for c, _ in keys]), np.array([d for _, d in keys]),
            np.array([rows[k] for k in keys]))  # fmt: skip


def test_cdnow_holdout_with_the_published_fit() -> None:
    customer, day, amount = cdnow_days()
    start, end = date(1997, 1, 1).toordinal(), date(1997, 9, 30).toordinal()
    report = calibrate(customer, day, amount, start, end, date(1998, 6, 30).toordinal(),
                       model=PAPER)  # fmt: skip
    assert report.customers == 2357
    assert report.cumulative_actual[38] == 2457  # the calibration's repeat purchases, week 39
    assert report.mae < report.mae_naive
    assert report.correlation > 0.55
    assert report.total_predicted == pytest.approx(report.total_actual, rel=0.15)
    predicted = [p for _, _, _, p in report.by_frequency]
    assert predicted == sorted(predicted)  # more calibration purchases, more ahead


@pytest.mark.slow  # 1.5 million grocery lines, and a fit
def test_complete_journey_holdout() -> None:
    import importlib

    script = importlib.import_module("scripts.lifetime_report")
    report = script.complete_journey()
    assert report.customers > 2300
    assert report.correlation > 0.75
    assert report.total_predicted == pytest.approx(report.total_actual, rel=0.1)
