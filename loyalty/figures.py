"""What operators and stores read of the lifecycle: figures by week (as the nightly job left
them) and one member's view (their timeline, segments and figures)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.members.models import PURCHASE_SEGMENTS, Member, MemberDevice, MemberStanding
from core.members.service import pseudonym, pseudonym_key
from loyalty.models import LifecycleScope, LifecycleWeek
from loyalty.schemas import (
    LifecycleNow,
    LifecycleOut,
    LifecycleWeekOut,
    MemberViewOut,
    StandingOut,
    TimelineEntry,
)
from loyalty.weekly import EVERYONE, MALL

TIMELINE_LIMIT = 500
# One name for each bucket of nightly.P_ALIVE_EDGES, and the members not modelled.
_BUCKETS = ("below_0.25", "0.25_to_0.5", "0.5_to_0.75", "0.75_or_more", "not_modelled")


def lifecycle(
    session: Session,
    mall_id: int,
    tenant_id: int | None,
    segment: str | None,
    since: date,
    until: date,
) -> LifecycleOut:
    """Weeks whose Monday falls in [since, until], in one indexed range read of the job's rows."""
    if segment is not None and segment not in PURCHASE_SEGMENTS:
        # A typo would otherwise read as a segment with no members.
        raise InvalidInput(
            f"unknown segment {segment!r}; known: {list(PURCHASE_SEGMENTS)}",
            code="unknown_segment",
            details={"field": "segment"},
        )
    scope = (mall_id, tenant_id or MALL, segment or EVERYONE)
    weeks = session.scalars(
        select(LifecycleWeek)
        .where(
            LifecycleWeek.mall_id == scope[0],
            LifecycleWeek.tenant_id == scope[1],
            LifecycleWeek.segment == scope[2],
            LifecycleWeek.week >= since,
            LifecycleWeek.week <= until,
        )
        .order_by(LifecycleWeek.week)
    ).all()
    now = session.get(LifecycleScope, scope)
    return LifecycleOut(
        mall_id=mall_id,
        tenant_id=tenant_id,
        segment=segment,
        currency=now.model.get("currency") if now else None,
        now=_now(now) if now else None,
        weeks=[_week(w) for w in weeks],
    )


def _now(row: LifecycleScope) -> LifecycleNow:
    return LifecycleNow(
        computed_at=row.computed_at,
        members=row.members,
        p_alive=dict(zip(_BUCKETS, row.p_alive, strict=True)),
        predicted_value=row.predicted_value,
        model=row.model,
    )


def _week(row: LifecycleWeek) -> LifecycleWeekOut:
    return LifecycleWeekOut(
        week=row.week,
        active=row.active,
        new=row.new,
        activated=row.activated,
        activation_rate=round(row.activated / row.new, 4)
        if row.activated is not None and row.new
        else None,
        purchases=row.purchases,
        revenue=row.revenue,
        purchase_frequency=round(row.purchases / row.active, 4) if row.active else None,
        average_order_value=(row.revenue / row.purchases).quantize(Decimal("0.01"))
        if row.purchases
        else None,
        lapsed=row.lapsed,
    )


# The timeline reads geofencing's and the promotion engine's tables (read only, as the
# analytics roll-up does): a member's devices' visits, dwells, pushes, opens and redemptions in
# this mall, with their own receipts, newest first.
_TIMELINE = text(
    """
    (SELECT e.at, CASE WHEN e.subject = 'mall' THEN 'visit' ELSE 'dwell' END AS kind,
            e.zone_id, z.name AS zone, e.level, z.tenant_id, NULL::bigint AS promotion_id,
            e.dwell_s / 60.0 AS minutes, NULL::numeric AS amount, NULL AS currency,
            NULL::int AS items
     FROM zone_events e LEFT JOIN zones z ON z.id = e.zone_id
     WHERE e.device_id = ANY(:devices) AND e.mall_id = :m
       AND ((e.subject = 'mall' AND e.kind = 'enter') OR (e.subject <> 'mall' AND e.kind = 'exit'
            AND e.dwell_s IS NOT NULL)))
    UNION ALL
    (SELECT d.at, CASE d.outcome WHEN 'sent' THEN 'push' ELSE 'holdout' END, NULL, NULL, NULL,
            d.tenant_id, d.promotion_id, NULL, NULL, NULL, NULL
     FROM decisions d WHERE d.device_id = ANY(:devices) AND d.mall_id = :m
       AND d.outcome IN ('sent', 'holdout'))
    UNION ALL
    (SELECT d.opened_at, 'open', NULL, NULL, NULL, d.tenant_id, d.promotion_id, NULL, NULL,
            NULL, NULL
     FROM decisions d WHERE d.device_id = ANY(:devices) AND d.mall_id = :m
       AND d.opened_at IS NOT NULL)
    UNION ALL
    (SELECT r.at, 'redemption', NULL, NULL, NULL, p.tenant_id, r.promotion_id, NULL, r.value,
            NULL, NULL
     FROM redemptions r JOIN promotions p ON p.id = r.promotion_id
     WHERE r.device_id = ANY(:devices) AND p.mall_id = :m)
    UNION ALL
    (SELECT at, 'purchase', NULL, NULL, NULL, tenant_id, NULL, NULL, amount, currency, items
     FROM purchases WHERE member_id = :member)
    UNION ALL
    (SELECT f.at, 'refund', NULL, NULL, NULL, f.tenant_id, NULL, NULL, f.amount, p.currency,
            f.items
     FROM refunds f JOIN purchases p ON p.id = f.purchase_id WHERE p.member_id = :member)
    ORDER BY at DESC LIMIT :limit
    """
)


def member_view(session: Session, mall_id: int, member_id: str) -> MemberViewOut | None:
    """None when the mall knows no such member (a lookup by pseudonym: nothing is made)."""
    key = pseudonym(pseudonym_key(session), mall_id, member_id)
    member = session.scalar(
        select(Member.id).where(Member.mall_id == mall_id, Member.pseudonym == key)
    )
    if member is None:
        return None
    devices = list(
        session.scalars(select(MemberDevice.device_id).where(MemberDevice.member_id == member))
    )
    rows = (
        session.execute(
            _TIMELINE,
            {"devices": devices, "m": mall_id, "member": member, "limit": TIMELINE_LIMIT + 1},
        )
        .mappings()
        .all()
    )
    standing = session.get(MemberStanding, member)
    return MemberViewOut(
        mall_id=mall_id,
        member=member,
        devices=len(devices),
        standing=_standing(standing) if standing else None,
        timeline=[TimelineEntry(**_entry(row)) for row in rows[:TIMELINE_LIMIT]],
        truncated=len(rows) > TIMELINE_LIMIT,
    )


def _entry(row: Any) -> dict[str, Any]:
    entry = {k: v for k, v in row.items() if v is not None}
    if "minutes" in entry:
        entry["minutes"] = round(float(entry["minutes"]), 1)
    return entry


def _standing(row: MemberStanding) -> StandingOut:
    return StandingOut(
        computed_at=row.computed_at,
        segments=row.segments,
        since={k: date.fromisoformat(v) for k, v in row.since.items()},
        tier=row.tier,
        frequency_drop=row.frequency_drop,
        purchases=row.purchases,
        last_purchase=row.last_purchase,
        p_alive=row.p_alive,
        expected_purchases=row.expected_purchases,
        expected_spend=row.expected_spend,
        predicted_value=row.predicted_value,
    )
