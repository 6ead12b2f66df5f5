"""The nightly lifecycle job of one mall: fit the lifetime models on every member's purchases,
store where each member stands (segments, tier, chance of still buying, predicted value) and the
lifecycle figures by week. Rebuilt whole in one transaction: a second run changes nothing but
`computed_at`, and a failed one leaves yesterday's figures."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from core.db import put_row
from core.members.models import MemberStanding
from core.members.service import mall_currency
from loyalty import lifetime
from loyalty.bulk import read_frame, write_rows
from loyalty.models import LifecycleScope, LifecycleWeek, LoyaltyRules
from loyalty.schemas import LoyaltyRulesIn
from loyalty.standing import History, StandingRules, drop_tier, frequency_drop, segments, top_share
from loyalty.weekly import EVERYONE, MALL, weekly_figures

log = logging.getLogger("mallcast.loyalty")

EPOCH = date(1970, 1, 5)  # a Monday: day // 7 is the week, EPOCH + 7 * week its Monday
# Fewer members than this, or fewer with a repeat purchase, say nothing reliable about the
# population's rates: no model, and no churn risk or predicted value until there are.
MIN_MEMBERS, MIN_REPEATERS = 50, 20
P_ALIVE_EDGES = (0.25, 0.5, 0.75)
YEARS_OF_WEEKS = 156  # the figures go back three years at most

# Net of refunds: a receipt refunded whole is no purchase (what was returned was not bought).
_BASKETS = """
    SELECT member_id, tenant_id, (at AT TIME ZONE {tz})::date - {epoch} AS day,
           count(*) AS purchases, sum(amount - refunded)::float8 AS revenue
    FROM purchases WHERE mall_id = {m} AND at <= {now} AND refunded < amount
    GROUP BY 1, 2, 3
"""
_MEMBERS = (
    "SELECT id, (created_at AT TIME ZONE {tz})::date - {epoch} FROM members WHERE mall_id = {m}"
)
_STANDING_COLUMNS = (
    "member_id",
    "mall_id",
    "segments",
    "since",
    "tier",
    "frequency_drop",
    "purchases",
    "last_purchase",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "predicted_value",
    "computed_at",
)
_WEEK_COLUMNS = (
    "mall_id",
    "tenant_id",
    "segment",
    "week",
    "active",
    "new",
    "activated",
    "purchases",
    "revenue",
    "lapsed",
)


def get_loyalty_rules(session: Session, mall_id: int) -> LoyaltyRulesIn:
    row = session.get(LoyaltyRules, mall_id)
    return LoyaltyRulesIn.model_validate(row.rules) if row else LoyaltyRulesIn()


def put_loyalty_rules(session: Session, mall_id: int, rules: LoyaltyRulesIn) -> LoyaltyRulesIn:
    put_row(
        session,
        LoyaltyRules,
        "mall_id",
        {"mall_id": mall_id, "rules": rules.model_dump(mode="json")},
    )
    return rules


def standing_rules(rules: LoyaltyRulesIn) -> StandingRules:
    return StandingRules(**rules.model_dump())


def refresh_lifecycle(session: Session, mall_id: int, timezone: str, now: datetime) -> int:
    """Returns how many members were placed."""
    rules = standing_rules(get_loyalty_rules(session, mall_id))
    today = (now.astimezone(_zone(timezone)).date() - EPOCH).days
    values = {
        "m": sql.Literal(mall_id),
        "tz": sql.Literal(timezone),
        "epoch": sql.Literal(EPOCH),
        "now": sql.Literal(now),
    }
    baskets = read_frame(
        session,
        sql.SQL(_BASKETS).format(**values),
        ["member", "tenant", "day", "purchases", "revenue"],
    )
    members = read_frame(session, sql.SQL(_MEMBERS).format(**values), ["member", "created_day"])
    currency = mall_currency(session, mall_id)
    days = baskets.groupby(["member", "day"], as_index=False)["revenue"].sum()
    started = time.perf_counter()
    model, table = _predict(days, today, rules)
    fit_s = time.perf_counter() - started
    members = members.merge(table, on="member", how="left")
    members["joined_day"] = np.fmin(members["created_day"], members["first_day"]).astype(int)
    members["days"] = _days_of(days, members["member"].to_numpy())
    members = _place(members, today, rules)
    _store_standings(session, mall_id, members, today, now)
    weeks = _store_weeks(session, mall_id, baskets, members, today, rules)
    info = {
        "currency": currency,
        "horizon_weeks": rules.horizon_weeks,
        "fit_s": round(fit_s, 2),
        "members_fitted": len(table) if model else 0,
        **({k: round(v, 6) for k, v in model.items()} if model else {}),
    }
    _store_scopes(session, mall_id, baskets, members, now, info)
    log.info(
        "lifecycle of mall %d: %d members, %d weeks, fitted in %.1f s",
        mall_id,
        len(members),
        weeks,
        fit_s,
    )
    return len(members)


def _days_of(days: pd.DataFrame, members: np.ndarray) -> list[tuple[int, ...]]:
    """Each member's purchase days, ascending (empty for members who never bought)."""
    if days.empty:
        return [() for _ in members]
    ordered = days.sort_values(["member", "day"])
    member, day = ordered["member"].to_numpy(), ordered["day"].to_numpy(np.int64)
    starts = np.flatnonzero(np.r_[True, member[1:] != member[:-1]])
    groups = dict(zip(member[starts].tolist(), np.split(day, starts[1:]), strict=True))
    return [tuple(groups[m].tolist()) if m in groups else () for m in members.tolist()]


def _zone(timezone: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(timezone)


def _predict(
    days: pd.DataFrame, today: int, rules: StandingRules
) -> tuple[dict[str, float] | None, pd.DataFrame]:
    """Each buying member's summary and, when there are enough of them, the models' figures."""
    summary = lifetime.summarise_days(
        days["member"].to_numpy(np.int64),
        days["day"].to_numpy(np.int64),
        days["revenue"].to_numpy(np.float64),
        today,
    )
    table = pd.DataFrame(
        {
            "member": summary.customers,
            "first_day": today - summary.T * 7,
            "frequency": summary.frequency,
        }
    )
    repeaters = int((summary.frequency > 0).sum())
    if len(table) < MIN_MEMBERS or repeaters < MIN_REPEATERS:
        return None, table
    try:
        bgnbd = lifetime.fit_bgnbd(summary)
        spend = lifetime.fit_gamma_gamma(summary)
    except Exception:  # a fit that does not converge must not cost the rest of the figures
        log.exception("lifetime model fit failed; members placed without it")
        return None, table
    table["p_alive"] = lifetime.p_alive(bgnbd, summary)
    table["expected_purchases"] = lifetime.expected_purchases(bgnbd, summary, rules.horizon_weeks)
    table["expected_spend"] = lifetime.expected_spend(spend, summary)
    table["predicted_value"] = table["expected_purchases"] * table["expected_spend"]
    return {**asdict(bgnbd), **asdict(spend)}, table


def _place(members: pd.DataFrame, today: int, rules: StandingRules) -> pd.DataFrame:
    """Each member's frequency drop, tier and segments."""
    values = members.get("predicted_value", pd.Series(np.nan, index=members.index))
    top = top_share(np.nan_to_num(values.to_numpy(np.float64)), rules.top_spender_share)
    alive = members.get("p_alive", pd.Series(np.nan, index=members.index)).to_numpy(np.float64)
    drops, tiers, names = [], [], []
    for days, joined, p, is_top in zip(
        members["days"], members["joined_day"], alive, top, strict=True
    ):
        history = History(days, int(joined), today)
        drop = frequency_drop(history, rules)
        drops.append(drop)
        tiers.append(drop_tier(drop, rules))
        chance = None if np.isnan(p) else float(p)
        names.append(tuple(sorted(segments(history, rules, chance, bool(is_top)))))
    return members.assign(frequency_drop=drops, tier=tiers, segments=names)


def _store_standings(
    session: Session, mall_id: int, members: pd.DataFrame, today: int, now: datetime
) -> None:
    before = dict(
        session.execute(
            select(MemberStanding.member_id, MemberStanding.since).where(
                MemberStanding.mall_id == mall_id
            )
        ).all()
    )
    session.execute(delete(MemberStanding).where(MemberStanding.mall_id == mall_id))
    day = (EPOCH + timedelta(days=today)).isoformat()
    rows = (
        (
            int(row.member),
            mall_id,
            list(row.segments),
            {s: (before.get(int(row.member)) or {}).get(s, day) for s in row.segments},
            row.tier if isinstance(row.tier, str) else None,  # pandas keeps None as NaN
            _number(row.frequency_drop),
            len(row.days),
            EPOCH + timedelta(days=row.days[-1]) if row.days else None,
            *(_number(getattr(row, name, None)) for name in _PREDICTIONS),
            now,
        )
        for row in members.itertuples(index=False)
    )
    write_rows(session, "member_standings", _STANDING_COLUMNS, rows)


_PREDICTIONS = ("p_alive", "expected_purchases", "expected_spend", "predicted_value")


def _number(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


def _store_weeks(
    session: Session,
    mall_id: int,
    baskets: pd.DataFrame,
    members: pd.DataFrame,
    today: int,
    rules: StandingRules,
) -> int:
    session.execute(delete(LifecycleWeek).where(LifecycleWeek.mall_id == mall_id))
    if baskets.empty and members.empty:
        return 0
    last_week = today // 7
    earliest = min(
        baskets["day"].min() if not baskets.empty else today,
        members["joined_day"].min() if not members.empty else today,
    )
    first_week = max(int(earliest) // 7, last_week - YEARS_OF_WEEKS + 1)
    weekly = (
        baskets.assign(week=baskets["day"] // 7)
        .groupby(["member", "tenant", "week"], as_index=False)[["purchases", "revenue"]]
        .sum()
    )
    figures = weekly_figures(
        weekly,
        members[["member", "joined_day", "first_day", "segments"]],
        first_week,
        last_week,
        lapsed_weeks=rules.lapsed_weeks,
        activation_days=rules.activation_days,
    )
    rows = (
        (
            mall_id,
            f.tenant_id,
            f.segment,
            EPOCH + timedelta(weeks=f.week),
            f.active,
            f.new,
            f.activated,
            f.purchases,
            f.revenue,
            f.lapsed,
        )
        for f in figures
    )
    write_rows(session, "lifecycle_weeks", _WEEK_COLUMNS, rows)
    return last_week - first_week + 1


def _store_scopes(
    session: Session,
    mall_id: int,
    baskets: pd.DataFrame,
    members: pd.DataFrame,
    now: datetime,
    model: dict[str, Any],
) -> None:
    session.execute(delete(LifecycleScope).where(LifecycleScope.mall_id == mall_id))
    everyone = members[["member"]].assign(tenant=MALL)
    pairs = pd.concat([everyone, baskets[["member", "tenant"]].drop_duplicates()])
    figures = members[["member", "segments"]].assign(
        p_alive=members.get("p_alive", np.nan),
        value=members.get("predicted_value", np.nan),
    )
    figures["segment"] = [(EVERYONE, *names) for names in figures["segments"]]
    scoped = pairs.merge(figures.explode("segment"), on="member")
    # Buckets 0-3 by P_ALIVE_EDGES, 4: not modelled.
    scoped["bucket"] = np.where(
        scoped["p_alive"].isna(),
        len(P_ALIVE_EDGES) + 1,
        np.searchsorted(P_ALIVE_EDGES, scoped["p_alive"], side="right"),
    )
    rows = []
    for (tenant, segment), group in scoped.groupby(["tenant", "segment"]):
        counts = np.bincount(group["bucket"].astype(int), minlength=len(P_ALIVE_EDGES) + 2)
        buckets = counts.tolist()
        rows.append(
            {
                "mall_id": mall_id,
                "tenant_id": int(tenant),
                "segment": segment,
                "members": int(group["member"].nunique()),
                "p_alive": buckets,
                "predicted_value": round(float(group["value"].sum()), 2),
                "computed_at": now,
                "model": model,
            }
        )
    if rows:
        session.execute(insert(LifecycleScope), rows)
