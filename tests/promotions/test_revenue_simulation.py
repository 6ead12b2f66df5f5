"""Revenue lift against a known truth: members whose purchases follow the lifetime model's story
(gamma-distributed rates, an active or dropped-out state, gamma-gamma spend), a randomised
holdout by the engine's own hash, and a treatment that raises purchase frequency and spend by
known factors. Over 100 seeded runs, the 95% intervals for incremental revenue per shopper and
for the churn difference must cover the true effect in at least 90; and every member of a
tier gets that tier's variant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from promotions.engine import Occasion, Offer, Rules, Shopper, Stats, Usage, decide, in_holdout
from promotions.measurement import Unit, revenue_lift


@dataclass(frozen=True)
class World:
    r: float = 1.2  # purchase rate per week ~ Gamma(r, alpha)
    alpha: float = 2.0
    active: float = 0.6  # share of members still active at the decision (BG/NBD's alive)
    p: float = 6.0  # spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v)
    q: float = 4.0
    v: float = 15.0
    frequency_effect: float = 0.25  # treated members buy 25% more often...
    spend_effect: float = 0.10  # ...and spend 10% more a purchase
    window_days: int = 14
    churn_days: int = 28
    holdout_share: float = 0.3

    def true_incremental_revenue(self) -> float:
        # E[active * rate * weeks * mean spend] * ((1 + f)(1 + s) - 1); rate and spend
        # independent: E[rate] = r / alpha, E[p / nu] = p v / (q - 1).
        base = self.active * (self.r / self.alpha) * (self.window_days / 7)
        base *= self.p * self.v / (self.q - 1)
        return base * ((1 + self.frequency_effect) * (1 + self.spend_effect) - 1)

    def true_churn_difference(self) -> float:
        # P(no purchase in C weeks | active) = E[exp(-rate C)] = (alpha / (alpha + C))^r.
        weeks = self.churn_days / 7
        treated = (self.alpha / (self.alpha + (1 + self.frequency_effect) * weeks)) ** self.r
        held = (self.alpha / (self.alpha + weeks)) ** self.r
        return float(self.active * (treated - held))


def simulate(world: World, members: int, seed: int) -> tuple[list[Unit], list[Unit]]:
    rng = np.random.default_rng(seed)
    devices = [uuid.UUID(int=int(rng.integers(0, 2**63)) * 2**64 + i) for i in range(members)]
    held = np.array([in_holdout(d, 1, world.holdout_share) for d in devices])
    rate = rng.gamma(world.r, 1 / world.alpha, members)
    active = rng.random(members) < world.active
    nu = rng.gamma(world.q, 1 / world.v, members)
    lift = np.where(held, 1.0, 1 + world.frequency_effect)
    spend = np.where(held, 1.0, 1 + world.spend_effect)
    in_window = rng.poisson(active * rate * lift * world.window_days / 7)
    # The churn window holds the purchase window: its purchases, and those of the days after.
    later = rng.poisson(active * rate * lift * (world.churn_days - world.window_days) / 7)
    units = []
    for i in range(members):
        amounts = rng.gamma(world.p, 1 / nu[i], in_window[i]) * spend[i]
        churned = in_window[i] + later[i] == 0
        units.append(Unit(float(amounts.sum()), int(in_window[i]), bool(churned)))
    treated = [u for u, h in zip(units, held, strict=True) if not h]
    holdout = [u for u, h in zip(units, held, strict=True) if h]
    return treated, holdout


def test_intervals_cover_the_true_effects_in_at_least_90_of_100_runs() -> None:
    world = World()
    revenue_truth, churn_truth = world.true_incremental_revenue(), world.true_churn_difference()
    assert revenue_truth > 0 > churn_truth  # the treatment works: more spend, less churn
    revenue_hits = churn_hits = 0
    for seed in range(100):
        measured = revenue_lift(*simulate(world, 3000, seed))
        revenue, churn = measured.incremental_revenue_per_shopper, measured.churn_difference
        assert revenue.low is not None
        assert revenue.high is not None
        assert churn.low is not None
        assert churn.high is not None
        revenue_hits += revenue.low <= revenue_truth <= revenue.high
        churn_hits += churn.low <= churn_truth <= churn.high
    assert revenue_hits >= 90, revenue_hits
    assert churn_hits >= 90, churn_hits


def test_without_an_effect_the_interval_holds_zero_as_often() -> None:
    world = World(frequency_effect=0.0, spend_effect=0.0)
    hits = 0
    for seed in range(100):
        revenue = revenue_lift(*simulate(world, 2000, 1000 + seed)).incremental_revenue_per_shopper
        assert revenue.low is not None
        assert revenue.high is not None
        hits += revenue.low <= 0 <= revenue.high
    assert hits >= 90


def test_a_wrong_truth_would_be_caught() -> None:
    # The check has teeth: the same intervals rarely hold no effect at all, or twice the true
    # one (an estimator off by that much would fail the coverage test).
    world = World()
    truth = world.true_incremental_revenue()
    zero = double = 0
    for seed in range(30):
        revenue = revenue_lift(*simulate(world, 3000, seed)).incremental_revenue_per_shopper
        assert revenue.low is not None
        assert revenue.high is not None
        zero += revenue.low <= 0 <= revenue.high
        double += revenue.low <= 2 * truth <= revenue.high
    assert zero < 10
    assert double < 10


def test_tiered_offers_go_to_the_right_tier_in_every_case() -> None:
    offer = Offer(id=1, tenant_id=1, category="cafe", trigger="segment", whole_mall=True,
                  segments=frozenset({"drop_mild", "drop_severe"}),
                  tiers=frozenset({"mild", "severe"}))  # fmt: skip
    rules = Rules("Asia/Shanghai", quiet=None, holdout_share=0.3)
    at = datetime(2026, 11, 24, 11, tzinfo=UTC)
    rng = np.random.default_rng(9)
    chosen = 0
    for seed in range(100):
        for drop in np.random.default_rng(seed).random(30):
            tier = "severe" if drop >= 0.6 else "mild" if drop >= 0.3 else None
            member = Shopper(uuid.uuid4(), segments=frozenset({f"drop_{tier}"} if tier else ()),
                             tier=tier, frequency_drop=float(drop))  # fmt: skip
            choice = decide(Occasion("segment", None, at), member, [offer], Usage(), rules,
                            Stats(), rng)  # fmt: skip
            if tier is None:  # no drop: not in the offer's audience at all
                assert choice.offer_id is None
                continue
            assert choice.variant == tier
            assert choice.explanation()["variant"]["tier"] == tier
            chosen += 1
    assert chosen > 1000
