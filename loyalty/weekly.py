"""Lifecycle figures by week, for the whole mall and each store, for every member and each
segment. Pure (pandas over what the nightly job reads).

Weeks are numbered from an epoch Monday in the mall's local calendar. For a scope (the mall or
one store, all members or one segment) and a week:
- active: members with a purchase in the scope that week; purchases and revenue: theirs;
- new: for the mall, members who joined that week, and `activated` those of them whose first
  purchase came within the activation days; for a store, members whose first purchase there was
  that week (activation is the mall's: None);
- lapsed: members who bought in the scope before but not in the last `lapsed_weeks` weeks up to
  and including this one.
Segments are the members' current ones: "how did today's churn risks behave over the year?".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MALL = 0  # the tenant id of the whole-mall scope
EVERYONE = ""  # the segment of all members


@dataclass(frozen=True)
class WeekRow:
    tenant_id: int
    segment: str
    week: int
    active: int
    new: int
    activated: int | None
    purchases: int
    revenue: float
    lapsed: int


def weekly_figures(
    baskets: pd.DataFrame,
    members: pd.DataFrame,
    first_week: int,
    last_week: int,
    *,
    lapsed_weeks: int,
    activation_days: int,
) -> list[WeekRow]:
    """`baskets`: member, tenant, week, purchases, revenue (one row per member, store and week).
    `members`: member, joined_day, first_day (NaN: never bought), segments (a tuple); days count
    from the same epoch as weeks (week = day // 7). Integer columns are whole numbers."""
    in_mall = baskets.groupby(["member", "week"], as_index=False)[["purchases", "revenue"]].sum()
    in_mall["tenant"] = MALL
    rows = pd.concat([baskets, in_mall], ignore_index=True)
    member_ids = members["member"].to_numpy()
    weeks = range(first_week, last_week + 1)
    out: list[WeekRow] = []
    for segment in sorted(_segments(members)):
        chosen = np.array(
            [segment == EVERYONE or segment in names for names in members["segments"]]
        )
        who = members[chosen]
        part = rows[np.isin(rows["member"].to_numpy(), member_ids[chosen])]
        out += _scopes(part, who, segment, weeks, lapsed_weeks, activation_days)
    return out


def _segments(members: pd.DataFrame) -> set[str]:
    return {EVERYONE} | {name for names in members["segments"] for name in names}


def _scopes(
    rows: pd.DataFrame,
    members: pd.DataFrame,
    segment: str,
    weeks: range,
    lapsed_weeks: int,
    activation_days: int,
) -> list[WeekRow]:
    """The figures of every store of these rows, and of the mall, for one segment's members."""
    tenants, scope = np.unique(np.r_[MALL, rows["tenant"].to_numpy(np.int64)], return_inverse=True)
    scope = scope[1:]  # the mall is always a scope, even when nobody bought
    shape = (len(tenants), len(weeks))
    column = rows["week"].to_numpy(np.int64) - weeks.start
    seen = (column >= 0) & (column < shape[1])
    active, purchases, revenue = np.zeros(shape, int), np.zeros(shape, int), np.zeros(shape)
    np.add.at(active, (scope[seen], column[seen]), 1)
    np.add.at(purchases, (scope[seen], column[seen]), rows["purchases"].to_numpy()[seen])
    np.add.at(revenue, (scope[seen], column[seen]), rows["revenue"].to_numpy()[seen])
    new, activated = _newcomers(rows, scope, members, shape, weeks.start, activation_days)
    lapsed = _lapsed(rows, scope, shape, weeks.start, lapsed_weeks)
    return [
        WeekRow(
            int(tenant),
            segment,
            week,
            int(active[i, j]),
            int(new[i, j]),
            int(activated[i, j]) if tenant == MALL else None,
            int(purchases[i, j]),
            round(float(revenue[i, j]), 2),
            int(lapsed[i, j]),
        )
        for i, tenant in enumerate(tenants.tolist())
        for j, week in enumerate(weeks)
    ]


def _newcomers(
    rows: pd.DataFrame,
    scope: np.ndarray,
    members: pd.DataFrame,
    shape: tuple[int, int],
    first_week: int,
    activation_days: int,
) -> tuple[np.ndarray, np.ndarray]:
    new, activated = np.zeros(shape, int), np.zeros(shape, int)
    # The mall (scope 0): members by the week they joined, whether or not they bought since.
    joined = members["joined_day"].to_numpy(np.int64)
    column = joined // 7 - first_week
    first = members["first_day"].to_numpy(np.float64)
    quick = ~np.isnan(first) & (first - joined <= activation_days)
    keep = (column >= 0) & (column < shape[1])
    np.add.at(new[0], column[keep], 1)
    np.add.at(activated[0], column[keep], quick[keep].astype(int))
    # A store: members by the week of their first purchase there.
    stores = scope > 0
    firsts = pd.DataFrame(
        {
            "scope": scope[stores],
            "member": rows["member"].to_numpy()[stores],
            "week": rows["week"].to_numpy()[stores],
        }
    )
    firsts = firsts.groupby(["scope", "member"], as_index=False)["week"].min()
    column = firsts["week"].to_numpy(np.int64) - first_week
    keep = (column >= 0) & (column < shape[1])
    np.add.at(new, (firsts["scope"].to_numpy()[keep], column[keep]), 1)
    return new, activated


def _lapsed(
    rows: pd.DataFrame,
    scope_of: np.ndarray,
    shape: tuple[int, int],
    first_week: int,
    lapsed_weeks: int,
) -> np.ndarray:
    """A member is lapsed in the weeks from `lapsed_weeks` after a purchase week up to their
    next purchase week in the scope (for good after the last): one +1 and one -1 per interval
    on a running sum over the weeks."""
    order = np.lexsort((rows["week"].to_numpy(), rows["member"].to_numpy(), scope_of))
    member = rows["member"].to_numpy()[order]
    week = rows["week"].to_numpy()[order].astype(np.int64)
    scope = scope_of[order]
    same_next = np.zeros(len(order), dtype=bool)
    same_next[:-1] = (member[1:] == member[:-1]) & (scope[1:] == scope[:-1])
    following = np.full(len(order), first_week + shape[1], dtype=np.int64)
    following[:-1] = np.where(same_next[:-1], week[1:], following[:-1])
    start = np.clip(week + lapsed_weeks - first_week, 0, shape[1])
    end = np.clip(following - first_week, 0, shape[1])
    keep = start < end
    steps = np.zeros((shape[0], shape[1] + 1), int)
    np.add.at(steps, (scope[keep], start[keep]), 1)
    np.add.at(steps, (scope[keep], end[keep]), -1)
    return np.cumsum(steps, axis=1)[:, : shape[1]]
