"""How often a member will buy, and whether they still do: BG/NBD (Fader, Hardie & Lee 2005).

The model reads each member's purchase history as three numbers over a calibration period:
`frequency` (repeat purchases: the days with a purchase, less the first), `recency` (weeks from
the first purchase to the last) and `T` (weeks from the first purchase to the period's end).
It assumes that while a member is active they buy as a Poisson process whose rate varies across
members as a gamma distribution (r, α), and that after each purchase they drop out for good
with a probability that varies across members as a beta distribution (a, b).

The summary is plain numpy; the fit is pymc-marketing's BetaGeoModel (docs/purchases.md says
why that library), by maximum a posteriori under flat priors: the maximum-likelihood estimates
the paper reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Summary:
    """Per customer, in the order of `customers`."""

    customers: list[str]
    frequency: Floats
    recency: Floats  # weeks
    T: Floats  # weeks (the model's own name)


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


def summarise(purchases: Iterable[tuple[str, date]], end: date) -> Summary:
    """Frequency, recency and T of each customer whose first purchase is on or before `end`;
    several purchases on one day count as one (as the paper counts them)."""
    days: dict[str, set[date]] = {}
    for customer, day in purchases:
        if day <= end:
            days.setdefault(customer, set()).add(day)
    customers = sorted(days)
    first = np.array([min(days[c]).toordinal() for c in customers], dtype=np.float64)
    last = np.array([max(days[c]).toordinal() for c in customers], dtype=np.float64)
    frequency = np.array([len(days[c]) - 1 for c in customers], dtype=np.float64)
    return Summary(customers, frequency, (last - first) / 7, (end.toordinal() - first) / 7)


def fit_bgnbd(summary: Summary) -> BgNbd:
    """Maximum-likelihood BG/NBD parameters (pymc-marketing, MAP under flat priors)."""
    import pandas as pd
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel

    data = pd.DataFrame({
        "customer_id": np.arange(len(summary.customers)),
        "frequency": summary.frequency, "recency": summary.recency, "T": summary.T,
    })  # fmt: skip
    flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
    model = BetaGeoModel(data=data, model_config=flat)
    model.fit(method="map", progressbar=False)
    fitted = model.fit_summary()  # type: ignore[no-untyped-call]
    return BgNbd(r=float(fitted["r"]), alpha=float(fitted["alpha"]), a=float(fitted["a"]),
                 b=float(fitted["b"]))  # fmt: skip
