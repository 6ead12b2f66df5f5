"""Members drawn from the lifetime models' own generative story, for the demo, the benchmark and
tests with a known truth. Pure (numpy).

Each member joins on a day of the joining period and buys then. While active they buy as a
Poisson process of rate λ ~ Gamma(r, α) a week; after each purchase they drop out for good with
probability p ~ Beta(a, b) (not after the first: the model's customers are all active at their
first purchase). Each purchase is worth z ~ Gamma(p_spend, ν), their mean spend
p_spend / ν with ν ~ Gamma(q, v) across members (Fader & Hardie's Gamma-Gamma).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from loyalty.lifetime import BgNbd, GammaGamma


@dataclass(frozen=True)
class Drawn:
    """One row per purchase: whose (0..n-1), on which day (from 0), for how much."""

    member: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]
    rate: npt.NDArray[np.float64]  # per member: purchases a week while active
    dropout: npt.NDArray[np.float64]  # per member: chance of leaving after a purchase
    joined: npt.NDArray[np.int64]  # per member: the day of their first purchase


def draw(
    members: int,
    days: int,
    rng: np.random.Generator,
    *,
    buying: BgNbd = BgNbd(r=0.8, alpha=6.0, a=0.8, b=4.0),
    spending: GammaGamma = GammaGamma(p=6.0, q=4.0, v=15.0),
    joining_days: int | None = None,
) -> Drawn:
    """Purchases of `members` over days [0, days): they join uniformly over the first
    `joining_days` (a third of the period unless given)."""
    joining = joining_days or max(1, days // 3)
    rate = rng.gamma(buying.r, 1 / buying.alpha, members)
    dropout = rng.beta(buying.a, buying.b, members)
    nu = rng.gamma(spending.q, 1 / spending.v, members)
    joined = rng.integers(0, joining, members)
    who, when = [np.arange(members)], [joined.astype(np.float64)]
    clock = joined.astype(np.float64)
    alive = np.ones(members, dtype=bool)
    while True:
        clock = clock + rng.exponential(1.0, members) / np.maximum(rate, 1e-12) * 7
        alive &= clock < days
        if not alive.any():
            break
        who.append(np.flatnonzero(alive))
        when.append(clock[alive])
        alive &= rng.random(members) >= dropout  # may leave after each repeat purchase
    member = np.concatenate(who)
    day = np.floor(np.concatenate(when)).astype(np.int64)
    amount = np.round(rng.gamma(spending.p, 1 / nu[member]), 2)
    order = np.lexsort((day, member))
    return Drawn(member[order], day[order], amount[order], rate, dropout, joined)


def receipts(
    drawn: Drawn, stores: list[int], start: datetime, *, prefix: str = "S", seed: int = 0
) -> Iterator[tuple[str, str, int, str, str, str, int]]:
    """The drawn purchases as rows of `mallcast import purchases` (loyalty.csv_import.COLUMNS):
    day 0 is `start`'s date, each receipt at a random hour of its day and in a random store."""
    rng = np.random.default_rng(seed)
    store = rng.integers(0, len(stores), len(drawn.member))
    seconds = rng.integers(10 * 3600, 21 * 3600, len(drawn.member))
    items = rng.integers(1, 7, len(drawn.member))
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for i, (member, day, amount) in enumerate(
        zip(drawn.member.tolist(), drawn.day.tolist(), drawn.amount.tolist(), strict=True)
    ):
        at = midnight + timedelta(days=day, seconds=int(seconds[i]))
        yield (
            f"{prefix}{i:09d}",
            f"{prefix}M{member:08d}",
            stores[int(store[i])],
            at.isoformat(),
            f"{amount:.2f}",
            "CNY",
            int(items[i]),
        )
