"""Purchase segments and lifecycle figures by week: the pure rules, against direct counts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loyalty.standing import History, StandingRules, drop_tier, frequency_drop, segments, top_share
from loyalty.weekly import EVERYONE, MALL, weekly_figures

RULES = StandingRules()  # 8 recent weeks, mild 0.3, severe 0.6, baseline of 3 days


def weekly(every: int, since: int, until: int) -> tuple[int, ...]:
    return tuple(range(since, until + 1, every))


@pytest.mark.parametrize(
    ("days", "expected_drop", "tier"),
    [
        # Weekly for a year, then the same: no drop.
        (weekly(7, 0, 364), 0.0, None),
        # Weekly for 44 weeks, then every other week in the last 8: half as often.
        (weekly(7, 0, 308) + weekly(14, 315, 364), 0.5, "mild"),
        # Weekly, then once in the last 8 weeks.
        ((*weekly(7, 0, 308), 350), 7 / 8, "severe"),
        # Weekly, then nothing at all: the whole rate lost.
        (weekly(7, 0, 308), 1.0, "severe"),
        # Twice as often lately: no drop (not a negative one).
        (weekly(14, 0, 308) + weekly(7, 315, 364), 0.0, None),
    ],
)
def test_frequency_drop_against_the_members_own_past(
    days: tuple[int, ...], expected_drop: float, tier: str | None
) -> None:
    history = History(days, joined=0, today=364)
    drop = frequency_drop(history, RULES)
    assert drop == pytest.approx(expected_drop, abs=0.03)
    assert drop_tier(drop, RULES) == tier
    names = segments(history, RULES, p_alive=0.9, top_spender=False)
    assert {n for n in names if n.startswith("drop_")} == ({f"drop_{tier}"} if tier else set())


def test_no_baseline_no_drop() -> None:
    # Two purchase days before the recent weeks are no baseline; nor is a past shorter than them.
    assert frequency_drop(History((0, 100), 0, 364), RULES) is None
    assert frequency_drop(History((300, 301, 302, 303), 290, 364), RULES) is None


def test_thresholds_are_the_operators() -> None:
    history = History(weekly(7, 0, 308) + weekly(14, 315, 364), 0, 364)  # a drop of 0.5
    assert drop_tier(frequency_drop(history, RULES), RULES) == "mild"
    strict = StandingRules(mild_drop=0.2, severe_drop=0.45)
    assert drop_tier(frequency_drop(history, strict), strict) == "severe"
    lenient = StandingRules(mild_drop=0.6, severe_drop=0.8)
    assert drop_tier(frequency_drop(history, lenient), lenient) is None


def test_churn_risk_lapsed_and_new_not_bought() -> None:
    bought = History((0, 30, 60), joined=0, today=70)
    assert "churn_risk" in segments(bought, RULES, p_alive=0.2, top_spender=False)
    assert "churn_risk" not in segments(bought, RULES, p_alive=0.8, top_spender=False)
    assert "churn_risk" not in segments(bought, RULES, p_alive=None, top_spender=False)
    gone = History((0, 30), joined=0, today=30 + 7 * 13 + 1)
    assert "lapsed_buyer" in segments(gone, RULES, None, False)
    assert "lapsed_buyer" not in segments(History((0, 30), 0, 30 + 7 * 13), RULES, None, False)
    assert segments(History((), joined=100, today=110), RULES, None, False) == {"new_not_bought"}
    assert segments(History((), joined=100, today=131), RULES, None, False) == frozenset()


def test_top_spenders_are_the_top_share_of_positive_values() -> None:
    values = np.array([0.0, 5, 1, 9, 3, 7, 2, 8, 4, 6, 10])
    assert np.flatnonzero(top_share(values, 0.2)).tolist() == [3, 10]  # 9 and 10 of ten
    assert np.flatnonzero(top_share(values, 0.3)).tolist() == [3, 7, 10]
    assert not top_share(np.zeros(4), 0.5).any()
    assert not top_share(values, 0.0).any()


def direct_counts(
    baskets: pd.DataFrame, members: pd.DataFrame, weeks: range, lapsed_weeks: int,
    activation_days: int,
) -> dict[tuple[int, str, int], tuple[Any, ...]]:  # fmt: skip
    """The same figures, the slow and obvious way."""
    labels = {m: (EVERYONE, *s) for m, s in zip(members["member"], members["segments"],
                                                strict=True)}  # fmt: skip
    bought: dict[tuple[int, str, int], dict[int, tuple[int, float]]] = defaultdict(dict)
    for row in baskets.itertuples():
        for tenant in (MALL, row.tenant):
            for segment in labels[row.member]:
                weeks_of = bought[(tenant, segment, row.member)]
                n, r = weeks_of.get(row.week, (0, 0.0))
                weeks_of[row.week] = (n + row.purchases, r + row.revenue)
    out = {}
    scopes = {(t, s) for t, s, _ in bought} | {(MALL, s) for v in labels.values() for s in v}
    for tenant, segment in scopes:
        in_scope = {m: w for (t, s, m), w in bought.items() if (t, s) == (tenant, segment)}
        for week in weeks:
            active = [m for m, w in in_scope.items() if week in w]
            purchases = sum(in_scope[m][week][0] for m in active)
            revenue = round(sum(in_scope[m][week][1] for m in active), 2)
            lapsed = sum(
                1
                for w in in_scope.values()
                if min(w) <= week and max(k for k in w if k <= week) <= week - lapsed_weeks
            )
            if tenant == MALL:
                joiners = [r for r in members.itertuples() if segment in labels[r.member]
                           and r.joined_day // 7 == week]  # fmt: skip
                new = len(joiners)
                activated = sum(1 for r in joiners if not np.isnan(r.first_day)
                                and r.first_day - r.joined_day <= activation_days)  # fmt: skip
            else:
                new = sum(1 for w in in_scope.values() if min(w) == week)
                activated = None
            out[(tenant, segment, week)] = (len(active), new, activated, purchases, revenue,
                                            lapsed)  # fmt: skip
    return out


def test_weekly_figures_equal_a_direct_count() -> None:
    rng = np.random.default_rng(3)
    n = 60
    members = pd.DataFrame({"member": np.arange(n), "joined_day": rng.integers(0, 200, n)})
    rows = []
    for m in range(n - 10):  # ten members never buy
        first = int(members.joined_day[m] + rng.integers(0, 60))
        later = first + rng.integers(0, 300, rng.integers(1, 12))
        for day in sorted({first, *later.tolist()}):
            rows.append((m, int(rng.integers(1, 4)), day // 7, 1 + int(rng.integers(0, 2)),
                         float(rng.integers(100, 9000)) / 100))  # fmt: skip
    baskets = pd.DataFrame(rows, columns=["member", "tenant", "week", "purchases", "revenue"])
    baskets = baskets.groupby(["member", "tenant", "week"], as_index=False).sum()
    first_day = {m: 7 * w for m, w in baskets.groupby("member")["week"].min().items()}
    members["first_day"] = [first_day.get(m, np.nan) for m in members["member"]]
    members["segments"] = [tuple(s for s in ("a", "b") if rng.random() < 0.4) for _ in range(n)]
    weeks = range(5, 60)
    figures = weekly_figures(baskets, members, weeks.start, weeks.stop - 1, lapsed_weeks=6,
                             activation_days=21)  # fmt: skip
    expected = direct_counts(baskets, members, weeks, 6, 21)
    got = {(f.tenant_id, f.segment, f.week): (f.active, f.new, f.activated, f.purchases,
                                              f.revenue, f.lapsed) for f in figures}  # fmt: skip
    assert got.keys() == expected.keys()
    wrong = {k: (got[k], expected[k]) for k in got if got[k] != pytest.approx(expected[k])}
    assert not wrong
    assert sum(f.lapsed for f in figures) > 0
    assert sum(f.activated or 0 for f in figures) > 0
