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
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Summary:
    """Per customer, in the order of `customers`."""

    customers: list[Any]
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
    spend: dict[tuple[str, int], float] = {}
    for customer, day, amount in purchases:
        if day <= end:
            key = (customer, day.toordinal())
            spend[key] = spend.get(key, 0.0) + amount
    keys = sorted(spend)
    names = sorted({customer for customer, _ in keys})
    number = {name: i for i, name in enumerate(names)}
    summary = summarise_days(
        np.array([number[c] for c, _ in keys], dtype=np.int64),
        np.array([d for _, d in keys], dtype=np.int64),
        np.array([spend[k] for k in keys], dtype=np.float64),
        end.toordinal(),
    )
    return Summary(names, summary.frequency, summary.recency, summary.T, summary.monetary)


def summarise_days(
    customer: npt.NDArray[np.int64], day: npt.NDArray[np.int64], amount: Floats, end: int
) -> Summary:
    """The same from one row per customer and purchase day (days as integers), vectorised for
    the nightly job's hundred thousand members: customers come out in ascending order."""
    if len(customer) == 0:  # a mall with no receipts yet
        nothing = np.zeros(0)
        return Summary([], nothing, nothing, nothing, nothing)
    order = np.lexsort((day, customer))
    customer, day, amount = customer[order], day[order], amount[order]
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    counts = np.diff(np.r_[starts, len(customer)])
    first, last = day[starts], day[starts + counts - 1]
    repeat_spend = np.add.reduceat(amount, starts) - amount[starts]
    frequency = (counts - 1).astype(np.float64)
    monetary = np.divide(repeat_spend, frequency, out=np.zeros(len(starts)), where=frequency > 0)
    return Summary(
        customer[starts].tolist(), frequency, (last - first) / 7, (end - first) / 7, monetary
    )


def fit_bgnbd(summary: Summary) -> BgNbd:
    """Maximum-likelihood BG/NBD parameters (pymc-marketing, MAP under flat priors)."""
    import pandas as pd
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel

    data = pd.DataFrame(
        {
            "customer_id": np.arange(len(summary.customers)),
            "frequency": summary.frequency,
            "recency": summary.recency,
            "T": summary.T,
        }
    )
    flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
    model = BetaGeoModel(model_config=flat)
    model.fit(data, method="map", progressbar=False)
    fitted = model.fit_summary()  # type: ignore[no-untyped-call]
    return BgNbd(
        r=float(fitted["r"]),
        alpha=float(fitted["alpha"]),
        a=float(fitted["a"]),
        b=float(fitted["b"]),
    )


def fit_gamma_gamma(summary: Summary) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma parameters, over the customers with a repeat purchase."""
    import pandas as pd
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import GammaGammaModel

    repeat = summary.frequency > 0
    data = pd.DataFrame(
        {
            "customer_id": np.arange(int(repeat.sum())),
            "frequency": summary.frequency[repeat],
            "monetary_value": summary.monetary[repeat],
        }
    )
    flat = {name: Prior("HalfFlat") for name in ("p", "q", "v")}
    model = GammaGammaModel(model_config=flat)
    model.fit(data, method="map", progressbar=False)
    fitted = model.fit_summary()  # type: ignore[no-untyped-call]
    return GammaGamma(p=float(fitted["p"]), q=float(fitted["q"]), v=float(fitted["v"]))


# -- what the fitted models predict for each member (closed forms of the papers; numpy) --------


def p_alive(model: BgNbd, s: Summary) -> Floats:
    """The probability that each member still buys (Fader, Hardie & Lee 2005, eq. 11). A member
    with no repeat purchase has not had the chance to drop out: 1."""
    x, t_x, T = s.frequency, s.recency, s.T
    odds = (model.a / (model.b + np.maximum(x, 1) - 1)) * np.exp(
        (model.r + x) * (np.log(model.alpha + T) - np.log(model.alpha + t_x))
    )
    return np.where(x > 0, 1 / (1 + odds), 1.0)


def expected_purchases(model: BgNbd, s: Summary, weeks: float) -> Floats:
    """Each member's expected purchases in the next `weeks` (eq. 10)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    x, T = s.frequency, s.T
    z = weeks / (alpha + T + weeks)
    ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + weeks)))
    if a == 1:  # the closed form divides by a - 1; one step aside changes nothing visible
        a = 1 + 1e-9
    unconditioned = (a + b + x - 1) / (a - 1) * (1 - ratio * hyp2f1(r + x, b + x, a + b + x - 1, z))
    return np.asarray(unconditioned * p_alive(model, s), dtype=np.float64)


def expected_spend(model: GammaGamma, s: Summary) -> Floats:
    """Each member's expected value per purchase: their own mean, shrunk towards the population's
    by how few repeat purchases it rests on (Fader & Hardie 2013, eq. 5)."""
    p, q, v = model.p, model.q, model.v
    x, mean = s.frequency, s.monetary
    if q <= 1:  # the population's mean spend is unbounded: a member's own mean is all there is
        return np.asarray(mean, dtype=np.float64)
    population = v * p / (q - 1)
    weight = p * x / (p * x + q - 1)
    return np.asarray((1 - weight) * population + weight * mean, dtype=np.float64)


def expected_total(model: BgNbd, weeks: Floats | float) -> Floats:
    """Expected repeat purchases of one new customer in their first `weeks` (eq. 9): the
    cumulative curve of the paper's figure 4, summed over customers by their start."""
    from scipy.special import hyp2f1

    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    t = np.asarray(weeks, dtype=np.float64)
    z = t / (alpha + t)
    ratio = np.exp(r * (np.log(alpha) - np.log(alpha + t)))
    return np.asarray(
        (a + b - 1) / (a - 1) * (1 - ratio * hyp2f1(r, b, a + b - 1, z)), dtype=np.float64
    )
