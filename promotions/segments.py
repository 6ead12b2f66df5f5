"""Who a shopper is, from their own history: behavioural facts and segments. Pure.

- new: this is the shopper's first visit; returning: it is not.
- frequent: at least 4 visits in the last 30 days.
- lapsed: at least 3 visits before this one, and the gap since the previous visit is at least
  3 times the shopper's own median gap between earlier visits (and at least 14 days).
- high_value: at least 2 redemptions.
- operator-defined: every condition of the rule holds (e.g. visits_30d >= 2, redemptions == 0).
- from purchases: the segments the nightly lifecycle job filed the linked member under
  (drop_mild, drop_severe, churn_risk, top_spender, lapsed_buyer, new_not_bought).
"""

from __future__ import annotations

import itertools
import operator
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
FACTS = (
    "visits_total",
    "visits_30d",
    "days_since_previous_visit",
    "median_gap_days",
    "redemptions",
    "opens",
    "pushes",
    "loyalty_tier",
)


@dataclass(frozen=True)
class ShopperFacts:
    visit_starts: Sequence[datetime]  # start of each visit, oldest first, the current one last
    redemptions: int = 0
    opens: int = 0
    pushes: int = 0
    loyalty_tier: str | None = None
    dwell_minutes: Mapping[str, float] = field(default_factory=dict)
    purchase_segments: frozenset[str] = frozenset()  # of the linked member, nightly
    tier: str | None = None  # the linked member's frequency-drop tier
    frequency_drop: float | None = None

    @property
    def visits_total(self) -> int:
        return len(self.visit_starts)

    def visits_since(self, moment: datetime) -> int:
        return sum(start >= moment for start in self.visit_starts)

    @property
    def gaps_days(self) -> list[float]:
        starts = self.visit_starts
        return [(b - a).total_seconds() / 86_400 for a, b in itertools.pairwise(starts)]

    def value(self, fact: str, now: datetime) -> Any:
        gaps = self.gaps_days
        values: dict[str, Any] = {
            "visits_total": self.visits_total,
            "visits_30d": self.visits_since(now - timedelta(days=30)),
            "days_since_previous_visit": gaps[-1] if gaps else None,
            "median_gap_days": statistics.median(gaps[:-1]) if len(gaps) > 1 else None,
            "redemptions": self.redemptions,
            "opens": self.opens,
            "pushes": self.pushes,
            "loyalty_tier": self.loyalty_tier,
        }
        return values[fact]


@dataclass(frozen=True)
class Clause:
    fact: str
    op: str
    value: Any

    def holds(self, facts: ShopperFacts, now: datetime) -> bool:
        actual = facts.value(self.fact, now)
        if actual is None:
            return False
        try:
            return bool(_OPERATORS[self.op](actual, self.value))
        except TypeError:  # a number compared with a text: the rule does not apply
            return False


@dataclass(frozen=True)
class SegmentRule:
    name: str
    conditions: tuple[Clause, ...]


def segments_of(
    facts: ShopperFacts, now: datetime, rules: Sequence[SegmentRule] = ()
) -> frozenset[str]:
    names = {"new"} if facts.visits_total <= 1 else {"returning"}
    names |= facts.purchase_segments
    if facts.visits_since(now - timedelta(days=30)) >= 4:
        names.add("frequent")
    gaps = facts.gaps_days
    if len(gaps) >= 3:  # three earlier visits give two gaps to form a baseline, plus this one
        baseline = statistics.median(gaps[:-1])
        if gaps[-1] >= max(14.0, 3 * baseline):
            names.add("lapsed")
    if facts.redemptions >= 2:
        names.add("high_value")
    for rule in rules:
        if rule.conditions and all(c.holds(facts, now) for c in rule.conditions):
            names.add(rule.name)
    return frozenset(names)
