"""Revenue lift of each promotion, and of each tier's variant: what the members behind the
treated and held-out pairs bought afterwards (promotions.measurement.revenue_lift)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.members.service import mall_currency
from promotions.catalog import get_rules
from promotions.measurement import Unit, revenue_lift
from promotions.result_schemas import PromotionRevenue, RevenueOut, TierRevenue

# One unit per promotion and device (its first send or holdout, as conversion counts them),
# whose device is linked to a loyalty member; the member's receipts afterwards, read through
# the (member_id, at) index, net of refunds (one refunded whole is no purchase). A pair whose
# churn window has not ended has no churn yet.
_UNITS = text(
    """
    WITH units AS (
        SELECT DISTINCT ON (d.promotion_id, d.device_id)
               d.promotion_id, d.tenant_id, d.variant, d.outcome, d.at, md.member_id
        FROM decisions d JOIN member_devices md ON md.device_id = d.device_id
        WHERE d.mall_id = :mall AND d.outcome IN ('sent', 'holdout')
          AND (CAST(:tenant AS bigint) IS NULL OR d.tenant_id = :tenant)
        ORDER BY d.promotion_id, d.device_id, d.at
    )
    SELECT u.promotion_id, u.variant, u.outcome,
           coalesce(b.revenue, 0) AS revenue, coalesce(b.purchases, 0) AS purchases,
           CASE WHEN u.at + :churn > :now THEN NULL
                ELSE NOT EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = u.member_id
                                 AND p.at > u.at AND p.at <= u.at + :churn
                                 AND p.refunded < p.amount) END AS churned
    FROM units u LEFT JOIN LATERAL (
        SELECT sum(p.amount - p.refunded)::float8 AS revenue, count(*) AS purchases
        FROM purchases p
        WHERE p.member_id = u.member_id AND p.tenant_id = u.tenant_id
          AND p.at > u.at AND p.at <= u.at + :window AND p.refunded < p.amount
    ) b ON true
    """
)
_PROMOTIONS = text(
    "SELECT id, tenant_id, title FROM promotions WHERE mall_id = :mall "
    "AND (CAST(:tenant AS bigint) IS NULL OR tenant_id = :tenant) ORDER BY id"
)


def revenue(
    session: Session, mall_id: int, now: datetime, tenant_id: int | None = None
) -> RevenueOut:
    rules = get_rules(session, mall_id)
    window, churn = (
        timedelta(days=rules.purchase_window_days),
        timedelta(days=rules.churn_window_days),
    )
    params = {"mall": mall_id, "tenant": tenant_id, "now": now, "window": window, "churn": churn}
    arms: dict[tuple[int, str], dict[str, list[Unit]]] = defaultdict(
        lambda: {"sent": [], "holdout": []}
    )
    for pid, variant, outcome, spent, purchases, churned in session.execute(_UNITS, params):
        unit = Unit(float(spent), int(purchases), churned)
        for tier in ("all", variant or "base"):
            arms[(pid, tier)][outcome].append(unit)
    promotions = [
        PromotionRevenue(
            id=pid,
            tenant_id=tid,
            title=title,
            tiers=[
                TierRevenue(tier=tier, revenue=revenue_lift(a["sent"], a["holdout"]))
                for (p, tier), a in sorted(arms.items(), key=lambda kv: _tier_order(kv[0][1]))
                if p == pid
            ],
        )
        for pid, tid, title in session.execute(_PROMOTIONS, params)
    ]
    return RevenueOut(
        mall_id=mall_id,
        tenant_id=tenant_id,
        currency=mall_currency(session, mall_id),
        purchase_window_days=rules.purchase_window_days,
        churn_window_days=rules.churn_window_days,
        promotions=promotions,
    )


def _tier_order(tier: str) -> int:
    return ("all", "base", "mild", "severe").index(tier)
