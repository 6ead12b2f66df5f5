"""Results of promotions: funnel (sent: decided to push; delivered: accepted by FCM), conversion
of treated and held-out pairs, lift, and how many pushes shoppers got a day (the caps at work).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.days import day_range, instants
from promotions.measurement import Lift, lift
from promotions.result_schemas import DayLift, PromotionResults, ResultsOut, TotalResults

_FUNNEL = text(
    """
    SELECT p.id, p.tenant_id, p.title,
           count(d.id) FILTER (WHERE d.outcome = 'sent') AS sent,
           count(d.id) FILTER (WHERE d.outcome = 'holdout') AS held_out,
           count(d.opened_at) AS opened,
           count(DISTINCT d.device_id) FILTER (WHERE d.outcome IN ('sent', 'holdout'))
               AS eligible_shoppers,
           count(DISTINCT d.device_id) FILTER (WHERE d.outcome = 'sent') AS treated,
           count(DISTINCT d.device_id) FILTER (WHERE d.outcome = 'holdout') AS holdout,
           (SELECT count(*) FROM deliveries dl JOIN decisions dd ON dd.id = dl.decision_id
                WHERE dd.promotion_id = p.id AND dl.state = 'sent') AS delivered,
           (SELECT count(*) FROM redemptions r WHERE r.promotion_id = p.id) AS redeemed,
           (SELECT count(DISTINCT r.device_id) FROM redemptions r JOIN decisions rd
                ON rd.id = r.decision_id WHERE r.promotion_id = p.id AND rd.outcome = 'sent')
               AS treated_conversions,
           (SELECT count(DISTINCT r.device_id) FROM redemptions r JOIN decisions rd
                ON rd.id = r.decision_id WHERE r.promotion_id = p.id AND rd.outcome = 'holdout')
               AS holdout_conversions
    FROM promotions p LEFT JOIN decisions d ON d.promotion_id = p.id
    WHERE p.mall_id = :mall AND (CAST(:tenant AS bigint) IS NULL OR p.tenant_id = :tenant)
    GROUP BY p.id ORDER BY p.id
    """
)

_PUSHES_PER_DAY = text(
    """
    SELECT coalesce(max(n), 0), coalesce(avg(n), 0) FROM (
        SELECT count(*) AS n FROM decisions d JOIN malls m ON m.id = d.mall_id
        WHERE d.mall_id = :mall AND d.outcome = 'sent'
          AND (CAST(:tenant AS bigint) IS NULL OR d.tenant_id = :tenant)
        GROUP BY d.device_id, (d.at AT TIME ZONE m.timezone)::date
    ) per_shopper_day
    """
)

_COUNTS = (
    "sent",
    "delivered",
    "held_out",
    "opened",
    "eligible_shoppers",
    "treated",
    "holdout",
    "redeemed",
    "treated_conversions",
    "holdout_conversions",
)


def results(session: Session, mall_id: int, tenant_id: int | None = None) -> ResultsOut:
    """Per promotion and in total (all of a tenant's, or the whole mall's)."""
    params = {"mall": mall_id, "tenant": tenant_id}
    rows = [dict(row) for row in session.execute(_FUNNEL, params).mappings()]
    total = {key: sum(row[key] for row in rows) for key in _COUNTS}
    most, mean = session.execute(_PUSHES_PER_DAY, params).one()
    return ResultsOut(
        mall_id=mall_id,
        tenant_id=tenant_id,
        total=TotalResults(
            **total,
            lift=_lift(total),
            pushes_per_shopper_day_max=int(most),
            pushes_per_shopper_day_mean=round(float(mean), 3),
        ),
        promotions=[PromotionResults(**row, lift=_lift(row)) for row in rows],
    )


def _lift(counts: dict[str, Any]) -> Lift:
    return lift(
        counts["treated_conversions"],
        counts["treated"],
        counts["holdout_conversions"],
        counts["holdout"],
    )


# Per promotion and shopper, as the funnel counts them: the day they were first chosen (pushed
# or held out), and the day they first redeemed a code of a decision of that arm.
_FIRSTS = text(
    """
    SELECT 'chosen' AS what, arm, (first_at AT TIME ZONE m.timezone)::date AS day, count(*) AS n
    FROM (SELECT d.promotion_id, d.device_id, d.outcome AS arm, min(d.at) AS first_at
          FROM decisions d JOIN promotions p ON p.id = d.promotion_id
          WHERE d.mall_id = :mall AND d.outcome IN ('sent', 'holdout')
            AND (CAST(:tenant AS bigint) IS NULL OR p.tenant_id = :tenant)
          GROUP BY 1, 2, 3) chosen
    JOIN malls m ON m.id = :mall
    WHERE first_at < :end GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'converted', arm, (first_at AT TIME ZONE m.timezone)::date, count(*)
    FROM (SELECT r.promotion_id, r.device_id, rd.outcome AS arm, min(r.at) AS first_at
          FROM redemptions r JOIN decisions rd ON rd.id = r.decision_id
          JOIN promotions p ON p.id = r.promotion_id
          WHERE p.mall_id = :mall AND rd.outcome IN ('sent', 'holdout')
            AND (CAST(:tenant AS bigint) IS NULL OR p.tenant_id = :tenant)
          GROUP BY 1, 2, 3) converted
    JOIN malls m ON m.id = :mall
    WHERE first_at < :end GROUP BY 1, 2, 3
    """
)


def lift_by_day(
    session: Session,
    mall_id: int,
    since: date | None,
    until: date | None,
    now: datetime,
    tenant_id: int | None = None,
) -> list[DayLift]:
    """The lift as it stood at the end of each day: everything chosen and converted up to that
    day (the mall's calendar), so the last day's figure is the funnel's."""
    timezone = session.execute(
        text("SELECT timezone FROM malls WHERE id = :m"), {"m": mall_id}
    ).scalar_one()
    since, until = day_range(timezone, since, until, now)
    _, end = instants(timezone, since, until)
    counts: dict[tuple[str, str, date], int] = {
        (what, arm, day): n
        for what, arm, day, n in session.execute(
            _FIRSTS, {"mall": mall_id, "tenant": tenant_id, "end": end}
        )
    }
    running = dict.fromkeys(
        ("chosen sent", "chosen holdout", "converted sent", "converted holdout"), 0
    )
    for (what, arm, day), n in counts.items():
        if day < since:
            running[f"{what} {arm}"] += n
    days = []
    day = since
    while day <= until:
        for what in ("chosen", "converted"):
            for arm in ("sent", "holdout"):
                running[f"{what} {arm}"] += counts.get((what, arm, day), 0)
        days.append(
            DayLift(
                day=day,
                lift=lift(
                    running["converted sent"],
                    running["chosen sent"],
                    running["converted holdout"],
                    running["chosen holdout"],
                ),
            )
        )
        day += timedelta(days=1)
    return days
