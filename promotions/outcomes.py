"""What shoppers did with offers: opened a push, redeemed an offer (attributed to a decision)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
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
    return _record(session, device_id, promotion_id, source, at)[0]


def redeem_code(session: Session, tenant_id: int, code: str) -> Redemption:
    """A store checks a code shown on the shopper's phone: once."""
    decision = session.scalars(
        select(Decision).where(
            Decision.redemption_code == code.strip().upper(), Decision.tenant_id == tenant_id
        )
    ).first()
    if decision is None or decision.promotion_id is None:
        raise NotFound("no such code for your offers", code="code_not_found")
    redemption, new = _record(session, decision.device_id, decision.promotion_id, "code", None)
    if not new:
        raise Conflict(
            "this offer was redeemed already",
            code="already_redeemed",
            details={"redeemed_at": redemption.at.isoformat()},
        )
    return redemption


def _record(
    session: Session, device_id: uuid.UUID, promotion_id: int, source: str, at: datetime | None
) -> tuple[Redemption, bool]:
    """The redemption, and whether this call made it."""
    promotion = session.get(Promotion, promotion_id)
    if promotion is None:
        raise NotFound(f"no offer {promotion_id}", code="offer_not_found")
    existing = _redemption(session, device_id, promotion_id)
    if existing is not None:
        return existing, False
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
    # Two reports at once (an app's retry racing its first try; two tills; the till and the
    # app) meet at the unique key: the later waits for the first to commit, then reads it.
    created = session.scalars(
        insert(Redemption)
        .values(
            device_id=device_id,
            promotion_id=promotion_id,
            source=source,
            at=at,
            decision_id=decision.id if decision else None,
        )
        .on_conflict_do_nothing(index_elements=["device_id", "promotion_id"])
        .returning(Redemption)
    ).first()
    if created is not None:
        return created, True
    first = _redemption(session, device_id, promotion_id)
    if first is None:  # it was there, and the device was erased meanwhile
        raise Conflict("the offer's redemption changed meanwhile; read it again")
    return first, False


def _redemption(session: Session, device_id: uuid.UUID, promotion_id: int) -> Redemption | None:
    return session.scalars(
        select(Redemption).where(
            Redemption.device_id == device_id, Redemption.promotion_id == promotion_id
        )
    ).first()
