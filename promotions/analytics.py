"""Results of promotions: funnel (sent: decided to push; delivered: accepted by FCM), conversion
of treated and held-out pairs, lift, and how many pushes shoppers got a day (the caps at work).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from promotions.measurement import Lift, lift
from promotions.schemas import PromotionResults, ResultsOut, TotalResults

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
    "sent", "delivered", "held_out", "opened", "eligible_shoppers", "treated", "holdout",
    "redeemed", "treated_conversions", "holdout_conversions",
)  # fmt: skip


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
    return lift(counts["treated_conversions"], counts["treated"],
                counts["holdout_conversions"], counts["holdout"])  # fmt: skip
