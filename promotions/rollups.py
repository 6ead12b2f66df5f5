"""What the scheduled jobs keep ready for operators: each shopper's segments (recomputed
nightly) and each promotion's funnel per local day (rolled up hourly). Both are rebuilt whole
for their scope in one transaction, so running a job twice changes nothing."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from core.days import day_range
from promotions.catalog import BUILTIN_SEGMENTS, get_rules
from promotions.inputs import custom_segments, shopper_facts
from promotions.models import PromotionDay, ShopperSegments
from promotions.result_schemas import DayResults, SegmentSizesOut
from promotions.schedule import local_time
from promotions.segments import segments_of

_SHOPPERS_OF_MALL = text(
    "SELECT DISTINCT device_id FROM zone_events "
    "WHERE mall_id = :m AND subject = 'mall' AND kind = 'enter' AND at >= :since"
)
# The mall's time zone (local days), read like _ROLL_UP reads it: the table is geofencing's.
_MALL_TIMEZONE = text("SELECT timezone FROM malls WHERE id = :m")


def recompute_segments(
    session: Session, mall_id: int, now: datetime, *, lookback_days: int = 365
) -> int:
    """Every shopper who visited the mall within the lookback, with their segments now.
    Returns how many shoppers."""
    rules = custom_segments(get_rules(session, mall_id))
    since = now - timedelta(days=lookback_days)
    devices = session.execute(_SHOPPERS_OF_MALL, {"m": mall_id, "since": since}).scalars().all()
    rows = [
        {
            "mall_id": mall_id,
            "device_id": device_id,
            "computed_at": now,
            "segments": sorted(segments_of(shopper_facts(session, device_id, now), now, rules)),
        }
        for device_id in devices
    ]
    session.execute(delete(ShopperSegments).where(ShopperSegments.mall_id == mall_id))
    if rows:
        session.execute(insert(ShopperSegments), rows)
    return len(rows)


def segment_sizes(session: Session, mall_id: int) -> SegmentSizesOut:
    rows = session.execute(
        select(ShopperSegments.segments, ShopperSegments.computed_at).where(
            ShopperSegments.mall_id == mall_id
        )
    ).all()
    known = list(BUILTIN_SEGMENTS) + [s.name for s in get_rules(session, mall_id).segments]
    sizes = Counter(dict.fromkeys(known, 0))
    sizes.update(name for segments, _ in rows for name in segments)
    return SegmentSizesOut(
        mall_id=mall_id,
        computed_at=max((at for _, at in rows), default=None),
        shoppers=len(rows),
        segments=dict(sizes),
    )


# Per promotion and local day from `since` on: decisions by their day, redemptions by theirs.
_ROLL_UP = text(
    """
    INSERT INTO promotion_days (promotion_id, day, mall_id, tenant_id, sent, held_out,
                                delivered, opened, redeemed, computed_at)
    SELECT p.id, x.day, p.mall_id, p.tenant_id, sum(x.sent), sum(x.held_out), sum(x.delivered),
           sum(x.opened), sum(x.redeemed), :now
    FROM promotions p JOIN malls m ON m.id = p.mall_id
    JOIN LATERAL (
        SELECT (d.at AT TIME ZONE m.timezone)::date AS day,
               count(*) FILTER (WHERE d.outcome = 'sent') AS sent,
               count(*) FILTER (WHERE d.outcome = 'holdout') AS held_out,
               count(dl.id) FILTER (WHERE dl.state = 'sent') AS delivered,
               count(d.opened_at) AS opened, 0 AS redeemed
        FROM decisions d LEFT JOIN deliveries dl ON dl.decision_id = d.id
        WHERE d.promotion_id = p.id AND d.at >= :since
        GROUP BY 1
        UNION ALL
        SELECT (r.at AT TIME ZONE m.timezone)::date, 0, 0, 0, 0, count(*)
        FROM redemptions r WHERE r.promotion_id = p.id AND r.at >= :since
        GROUP BY 1
    ) x ON true
    WHERE p.mall_id = :mall AND x.day >= :since_day
    GROUP BY p.id, x.day, p.mall_id, p.tenant_id
    """
)


def roll_up(session: Session, mall_id: int, now: datetime, *, days: int = 7) -> int:
    """Rebuild the last `days` local days of the mall's promotions (late deliveries, opens and
    redemptions land in days already rolled up). Returns how many promotion-days."""
    timezone = session.execute(_MALL_TIMEZONE, {"m": mall_id}).scalar_one()
    since_day = local_time(now, timezone).date() - timedelta(days=days - 1)
    # A day starts at local midnight; a UTC bound a day earlier catches it whatever the zone.
    since = datetime.combine(since_day, datetime.min.time(), now.tzinfo) - timedelta(days=1)
    session.execute(
        delete(PromotionDay).where(PromotionDay.mall_id == mall_id, PromotionDay.day >= since_day)
    )
    written = session.connection().execute(
        _ROLL_UP, {"mall": mall_id, "since": since, "since_day": since_day, "now": now}
    )
    return written.rowcount


def daily(
    session: Session,
    mall_id: int,
    since: date | None,
    until: date | None,
    now: datetime,
    tenant_id: int | None = None,
) -> list[DayResults]:
    """The rolled-up days, oldest first, per promotion (a tenant's own only). Without bounds:
    the last 30 days of the mall's calendar."""
    timezone = session.execute(_MALL_TIMEZONE, {"m": mall_id}).scalar_one()
    since, until = day_range(timezone, since, until, now)
    query = select(PromotionDay).where(
        PromotionDay.mall_id == mall_id, PromotionDay.day >= since, PromotionDay.day <= until
    )
    if tenant_id is not None:
        query = query.where(PromotionDay.tenant_id == tenant_id)
    rows = session.scalars(query.order_by(PromotionDay.day, PromotionDay.promotion_id)).all()
    return [DayResults.model_validate(row, from_attributes=True) for row in rows]
