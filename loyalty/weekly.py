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
    from the same epoch as weeks (week = day // 7)."""
    weeks = np.arange(first_week, last_week + 1)
    in_mall = baskets.groupby(["member", "week"], as_index=False)[["purchases", "revenue"]].sum()
    in_mall["tenant"] = MALL
    scoped = _by_segment(pd.concat([baskets, in_mall], ignore_index=True), members)
    keys = ["tenant", "segment"]
    scopes = sorted(set(map(tuple, scoped[keys].drop_duplicates().to_numpy().tolist()))
                    | {(MALL, s) for s in _segments(members)})  # fmt: skip
    index = {scope: i for i, scope in enumerate(scopes)}
    shape = (len(scopes), len(weeks))
    scope_of = np.array([index[(t, s)] for t, s in zip(scoped["tenant"], scoped["segment"],
                                                       strict=True)], dtype=np.int64)  # fmt: skip
    column = scoped["week"].to_numpy() - first_week
    seen = (column >= 0) & (column < len(weeks))
    active, purchases, revenue = np.zeros(shape, int), np.zeros(shape, int), np.zeros(shape)
    np.add.at(active, (scope_of[seen], column[seen]), 1)
    np.add.at(purchases, (scope_of[seen], column[seen]), scoped["purchases"].to_numpy()[seen])
    np.add.at(revenue, (scope_of[seen], column[seen]), scoped["revenue"].to_numpy()[seen])
    new, activated = _newcomers(scoped, members, index, shape, first_week, activation_days)
    lapsed = _lapsed(scoped, scope_of, shape, first_week, lapsed_weeks)
    return [
        WeekRow(tenant, segment, int(week), int(active[i, j]), int(new[i, j]),
                int(activated[i, j]) if tenant == MALL else None, int(purchases[i, j]),
                round(float(revenue[i, j]), 2), int(lapsed[i, j]))
        for (tenant, segment), i in index.items() for j, week in enumerate(weeks)
    ]  # fmt: skip


def _segments(members: pd.DataFrame) -> set[str]:
    return {EVERYONE} | {name for names in members["segments"] for name in names}


def _by_segment(frame: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Each row once for all members and once for each segment of its member."""
    labels = members[["member", "segments"]].copy()
    labels["segment"] = [(EVERYONE, *names) for names in labels["segments"]]
    labels = labels.drop(columns="segments").explode("segment")
    return frame.merge(labels, on="member", how="inner")


def _newcomers(
    scoped: pd.DataFrame,
    members: pd.DataFrame,
    index: dict[tuple[int, str], int],
    shape: tuple[int, int],
    first_week: int,
    activation_days: int,
) -> tuple[np.ndarray, np.ndarray]:
    new, activated = np.zeros(shape, int), np.zeros(shape, int)
    # The mall: members by the week they joined, whether or not they bought since.
    joined = members.copy()
    joined["segment"] = [(EVERYONE, *names) for names in joined["segments"]]
    joined = joined.explode("segment")
    column = (joined["joined_day"].to_numpy() // 7).astype(np.int64) - first_week
    first = joined["first_day"].to_numpy(dtype=np.float64)
    quick = ~np.isnan(first) & (first - joined["joined_day"].to_numpy() <= activation_days)
    row = np.array([index[(MALL, s)] for s in joined["segment"]], dtype=np.int64)
    keep = (column >= 0) & (column < shape[1])
    np.add.at(new, (row[keep], column[keep]), 1)
    np.add.at(activated, (row[keep], column[keep]), quick[keep].astype(int))
    # A store: members by the week of their first purchase there.
    stores = scoped[scoped["tenant"] != MALL]
    firsts = stores.groupby(["tenant", "segment", "member"], as_index=False)["week"].min()
    row = np.array([index[(t, s)] for t, s in zip(firsts["tenant"], firsts["segment"],
                                                  strict=True)], dtype=np.int64)  # fmt: skip
    column = firsts["week"].to_numpy() - first_week
    keep = (column >= 0) & (column < shape[1])
    np.add.at(new, (row[keep], column[keep]), 1)
    return new, activated


def _lapsed(
    scoped: pd.DataFrame, scope_of: np.ndarray, shape: tuple[int, int], first_week: int,
    lapsed_weeks: int,
) -> np.ndarray:  # fmt: skip
    """A member is lapsed in the weeks from `lapsed_weeks` after a purchase week up to their
    next purchase week in the scope (for good after the last): one +1 and one -1 per interval
    on a running sum over the weeks."""
    order = np.lexsort((scoped["week"].to_numpy(), scoped["member"].to_numpy(), scope_of))
    member = scoped["member"].to_numpy()[order]
    week = scoped["week"].to_numpy()[order].astype(np.int64)
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
