"""What shoppers did with offers: opened a push, redeemed an offer (attributed to a decision)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Conflict, NotFound
from promotions.catalog import get_rules
from promotions.models import Decision, Promotion, Redemption


def opened(
    session: Session, device_id: uuid.UUID, promotion_id: int, decision_id: int | None = None
) -> Decision:
    """Mark the push of this offer (the latest, or the one named) opened. Idempotent."""
    query = select(Decision).where(
        Decision.device_id == device_id,
        Decision.promotion_id == promotion_id,
        Decision.outcome == "sent",
    )
    if decision_id is not None:
        query = query.where(Decision.id == decision_id)
    decision = session.scalars(query.order_by(Decision.at.desc()).limit(1)).first()
    if decision is None:
        raise NotFound(f"no push of offer {promotion_id} to this device", code="offer_not_found")
    if decision.opened_at is None:
        decision.opened_at = utcnow()
        session.flush()
    return decision


def redeemed(
    session: Session,
    device_id: uuid.UUID,
    promotion_id: int,
    *,
    source: str = "app",
    at: datetime | None = None,
) -> Redemption:
    """Record a redemption, attributed to the latest send or holdout decision for this shopper
    and offer within the mall's attribution window (none: an organic redemption).
    Idempotent: a second report returns the first redemption."""
    promotion = session.get(Promotion, promotion_id)
    if promotion is None:
        raise NotFound(f"no offer {promotion_id}", code="offer_not_found")
    existing = session.scalars(
        select(Redemption).where(
            Redemption.device_id == device_id, Redemption.promotion_id == promotion_id
        )
    ).first()
    if existing is not None:
        return existing
    at = at or utcnow()
    window = timedelta(hours=get_rules(session, promotion.mall_id).attribution_window_hours)
    decision = session.scalars(
        select(Decision)
        .where(
            Decision.device_id == device_id,
            Decision.promotion_id == promotion_id,
            Decision.outcome.in_(("sent", "holdout")),
            Decision.at <= at,
            Decision.at >= at - window,
        )
        .order_by(Decision.at.desc())
        .limit(1)
    ).first()
    redemption = Redemption(
        device_id=device_id,
        promotion_id=promotion_id,
        decision_id=decision.id if decision else None,
        source=source,
        at=at,
    )
    session.add(redemption)
    session.flush()
    return redemption


def redeem_code(session: Session, tenant_id: int, code: str) -> Redemption:
    """A store checks a code shown on the shopper's phone."""
    decision = session.scalars(
        select(Decision).where(
            Decision.redemption_code == code.strip().upper(), Decision.tenant_id == tenant_id
        )
    ).first()
    if decision is None or decision.promotion_id is None:
        raise NotFound("no such code for your offers", code="code_not_found")
    already = session.scalars(
        select(Redemption).where(
            Redemption.device_id == decision.device_id,
            Redemption.promotion_id == decision.promotion_id,
        )
    ).first()
    if already is not None:
        raise Conflict("this offer was redeemed already", code="already_redeemed",
                       details={"redeemed_at": already.at.isoformat()})  # fmt: skip
    return redeemed(session, decision.device_id, decision.promotion_id, source="code")
