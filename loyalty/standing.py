"""Where each member stands, from their purchases: the frequency drop against their own past,
and the segments the operator plans outreach with. Pure.

- drop_mild / drop_severe: the member bought on fewer days a week in the last `recent_weeks`
  than in their own past (from their first purchase up to then), by at least the mild or the
  severe share; only for members whose past holds at least `baseline_min_days` purchase days
  over at least `recent_weeks` weeks (a baseline of one visit says nothing).
- churn_risk: the model gives them less than `churn_risk_below` chance of still buying.
- top_spender: their predicted value is in the mall's top `top_spender_share`.
- lapsed_buyer: they bought, but not in the last `lapsed_weeks`.
- new_not_bought: they joined within `new_member_days` and have not bought yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class StandingRules:
    """The operator's thresholds (loyalty.schemas.LoyaltyRulesIn is their public shape)."""

    mild_drop: float = 0.3
    severe_drop: float = 0.6
    recent_weeks: int = 8
    baseline_min_days: int = 3
    churn_risk_below: float = 0.5
    top_spender_share: float = 0.1
    lapsed_weeks: int = 13
    new_member_days: int = 30
    activation_days: int = 30
    horizon_weeks: int = 52


@dataclass(frozen=True)
class History:
    """One member's purchase days (days since an epoch, ascending, one entry per day) as of
    `today` (the same epoch), and the day they joined."""

    days: tuple[int, ...]
    joined: int
    today: int


def frequency_drop(history: History, rules: StandingRules) -> float | None:
    """1 - recent rate / own baseline rate (0 when they buy as often or more); None without a
    baseline to compare with."""
    recent_start = history.today - 7 * rules.recent_weeks + 1  # the recent weeks end today
    past = [d for d in history.days if d < recent_start]
    if len(past) < rules.baseline_min_days or recent_start - past[0] < 7 * rules.recent_weeks:
        return None
    baseline = len(past) / ((recent_start - past[0]) / 7)
    recent = sum(recent_start <= d <= history.today for d in history.days) / rules.recent_weeks
    return max(0.0, 1 - recent / baseline)


def drop_tier(drop: float | None, rules: StandingRules) -> str | None:
    if drop is None:
        return None
    if drop >= rules.severe_drop:
        return "severe"
    if drop >= rules.mild_drop:
        return "mild"
    return None


def segments(
    history: History,
    rules: StandingRules,
    p_alive: float | None,
    top_spender: bool,
) -> frozenset[str]:
    names: set[str] = set()
    tier = drop_tier(frequency_drop(history, rules), rules)
    if tier is not None:
        names.add(f"drop_{tier}")
    if p_alive is not None and history.days and p_alive < rules.churn_risk_below:
        names.add("churn_risk")
    if top_spender:
        names.add("top_spender")
    if history.days and history.today - history.days[-1] > 7 * rules.lapsed_weeks:
        names.add("lapsed_buyer")
    if not history.days and history.today - history.joined <= rules.new_member_days:
        names.add("new_not_bought")
    return frozenset(names)


def top_share(values: npt.NDArray[np.float64], share: float) -> npt.NDArray[np.bool_]:
    """Which values are in the top `share` of the positive ones (ties at the edge are in)."""
    positive = values > 0
    if share <= 0 or not positive.any():
        return np.zeros(len(values), dtype=bool)
    cutoff = np.quantile(values[positive], 1 - share)
    return positive & (values >= cutoff)
