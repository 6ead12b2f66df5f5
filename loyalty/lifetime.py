"""How often a member will buy, whether they still do, and how much they spend: BG/NBD (Fader,
Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013).

The model reads each member's purchase history as three numbers over a calibration period:
`frequency` (repeat purchases: the days with a purchase, less the first), `recency` (weeks from
the first purchase to the last) and `T` (weeks from the first purchase to the period's end).
It assumes that while a member is active they buy as a Poisson process whose rate varies across
members as a gamma distribution (r, α), and that after each purchase they drop out for good
with a probability that varies across members as a beta distribution (a, b).

Spend is Gamma-Gamma: a member's purchases vary around their own mean value, and those means
vary across members; spend is independent of how often they buy. It reads the mean value of each
member's repeat purchases (`monetary`: the first purchase left out, as the model is fitted).

The summary is plain numpy; the fits are pymc-marketing's BetaGeoModel and GammaGammaModel
(docs/purchases.md says why that library), by maximum a posteriori under flat priors: the
maximum-likelihood estimates the papers report.
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
    monetary: Floats  # mean value of the repeat purchase days; 0 without any


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float


def summarise(purchases: Iterable[tuple[str, date, float]], end: date) -> Summary:
    """Frequency, recency, T and mean repeat spend of each customer whose first purchase is on
    or before `end`; several purchases on one day count as one, their amounts added (as the
    papers count them)."""
    spend: dict[str, dict[date, float]] = {}
    for customer, day, amount in purchases:
        if day <= end:
            days = spend.setdefault(customer, {})
            days[day] = days.get(day, 0.0) + amount
    customers = sorted(spend)
    first = np.array([min(spend[c]).toordinal() for c in customers], dtype=np.float64)
    last = np.array([max(spend[c]).toordinal() for c in customers], dtype=np.float64)
    frequency = np.array([len(spend[c]) - 1 for c in customers], dtype=np.float64)
    monetary = np.array([_repeat_mean(spend[c]) for c in customers], dtype=np.float64)
    return Summary(customers, frequency, (last - first) / 7, (end.toordinal() - first) / 7,
                   monetary)  # fmt: skip


def _repeat_mean(days: dict[date, float]) -> float:
    repeats = [amount for day, amount in sorted(days.items())[1:]]
    return sum(repeats) / len(repeats) if repeats else 0.0


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
    model = BetaGeoModel(model_config=flat)
    model.fit(data, method="map", progressbar=False)
    fitted = model.fit_summary()  # type: ignore[no-untyped-call]
    return BgNbd(r=float(fitted["r"]), alpha=float(fitted["alpha"]), a=float(fitted["a"]),
                 b=float(fitted["b"]))  # fmt: skip


def fit_gamma_gamma(summary: Summary) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma parameters, over the customers with a repeat purchase."""
    import pandas as pd
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import GammaGammaModel

    repeat = summary.frequency > 0
    data = pd.DataFrame({
        "customer_id": np.arange(int(repeat.sum())),
        "frequency": summary.frequency[repeat], "monetary_value": summary.monetary[repeat],
    })  # fmt: skip
    flat = {name: Prior("HalfFlat") for name in ("p", "q", "v")}
    model = GammaGammaModel(model_config=flat)
    model.fit(data, method="map", progressbar=False)
    fitted = model.fit_summary()  # type: ignore[no-untyped-call]
    return GammaGamma(p=float(fitted["p"]), q=float(fitted["q"]), v=float(fitted["v"]))
