"""Decisions as stored: one row per zone event with its reasons, the push it sends written to
the outbox in the same transaction, the summary the shopper's app is told, and the record read
back for an operator who asks why."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.events import DecisionSummary, StoredEvent
from promotions.engine import Choice
from promotions.inputs import Card
from promotions.models import Decision
from promotions.payload import localized
from promotions.schemas import DecisionExplained, PromotionVerdict
from push.outbox import enqueue

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till

_DECISIONS = Decision.metadata.tables["decisions"]
_INSERT_DECISIONS = insert(_DECISIONS).returning(_DECISIONS.c.id, sort_by_parameter_order=True)


def store_idle(
    session: Session, device_id: uuid.UUID, events: Sequence[StoredEvent], any_offers: bool
) -> dict[int, DecisionSummary]:
    reason = "no_offer_for_this_zone" if any_offers else "no_offers"
    rows = [
        {
            "event_id": e.id,
            "device_id": device_id,
            "mall_id": e.mall_id,
            "outcome": "none",
            "reason": reason,
            "segments": [],
            "explanation": {},
            "at": e.at,
        }
        for e in events
    ]
    ids = session.execute(_INSERT_DECISIONS, rows).scalars().all()
    return {
        event.id: DecisionSummary(decision_id, "none", None, reason)
        for event, decision_id in zip(events, ids, strict=True)
    }


def store_decision(
    session: Session,
    device_id: uuid.UUID,
    event: StoredEvent,
    choice: Choice,
    promotion: Card | None,
    segments: frozenset[str],
) -> Decision:
    decision = Decision(
        event_id=event.id,
        device_id=device_id,
        mall_id=event.mall_id,
        at=event.at,
        **_chosen(choice, promotion, segments),
    )
    session.add(decision)
    session.flush()
    return decision


def store_outreach(
    session: Session,
    device_id: uuid.UUID,
    mall_id: int,
    key: str,
    at: datetime,
    choice: Choice,
    promotion: Card | None,
    segments: frozenset[str],
    promotion_id: int,
) -> Decision:
    """A decision on a member's entry into a segment: no zone event, its outreach key instead
    (and the promotion it was about, even when none went out)."""
    decision = Decision(
        event_id=None,
        outreach_key=key,
        device_id=device_id,
        mall_id=mall_id,
        at=at,
        **_chosen(choice, promotion, segments) | {"promotion_id": promotion_id},
    )
    session.add(decision)
    session.flush()
    return decision


def _chosen(choice: Choice, promotion: Card | None, segments: frozenset[str]) -> dict[str, Any]:
    code = None
    if choice.outcome == "sent" and promotion and promotion.codes:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return {
        "promotion_id": choice.offer_id,
        "tenant_id": promotion.tenant_id if promotion else None,
        "outcome": choice.outcome,
        "reason": choice.reason,
        "segments": sorted(segments),
        "explanation": choice.explanation(),
        "redemption_code": code,
        "variant": choice.variant,
    }


def enqueue_push(
    session: Session, decision: Decision, promotion: Card, locale: str, ttl: timedelta
) -> None:
    """The outbox row, in the transaction of the event and the decision."""
    title, body = localized(*promotion.text(decision.variant), locale)
    data = {"decision_id": str(decision.id), "promotion_id": str(promotion.id)}
    if promotion.deep_link:
        data["deep_link"] = promotion.deep_link
    if decision.redemption_code:
        data["code"] = decision.redemption_code
    enqueue(
        session,
        decision_id=decision.id,
        device_id=decision.device_id,
        title=title,
        body=body,
        data=data,
        collapse_key=f"promotion-{promotion.id}",
        image_url=promotion.image_url,
        created_at=utcnow(),
        ttl=ttl,
    )


def decision_summary(
    decision: Decision, promotion: Card | None, locale: str = "en"
) -> DecisionSummary:
    title = body = None
    if promotion is not None:
        title, body = localized(*promotion.text(decision.variant), locale)
    return DecisionSummary(
        decision_id=decision.id,
        outcome=decision.outcome,
        promotion_id=decision.promotion_id,
        reason=decision.reason,
        title=title,
        body=body,
        code=decision.redemption_code,
    )


def explain_decisions(
    session: Session,
    mall_id: int,
    device_id: uuid.UUID,
    promotion_id: int | None = None,
    limit: int = 50,
) -> list[DecisionExplained]:
    """The shopper's latest decisions in the mall with their reasons; with `promotion_id`,
    what became of that promotion in each: why did this shopper (not) get it."""
    rows = session.scalars(
        select(Decision)
        .where(Decision.mall_id == mall_id, Decision.device_id == device_id)
        .order_by(Decision.at.desc())
        .limit(limit)
    ).all()
    return [_explained(decision, promotion_id) for decision in rows]


def _explained(decision: Decision, promotion_id: int | None) -> DecisionExplained:
    explanation = decision.explanation or {}
    out = DecisionExplained(
        decision_id=decision.id,
        event_id=decision.event_id,
        at=decision.at,
        outcome=decision.outcome,
        promotion_id=decision.promotion_id,
        reason=decision.reason,
        segments=decision.segments,
        opened_at=decision.opened_at,
    )
    if promotion_id is None:
        out.explanation = explanation
    else:
        out.for_promotion = _verdict(decision, str(promotion_id), explanation)
    return out


def _verdict(decision: Decision, key: str, explanation: dict[str, Any]) -> PromotionVerdict:
    scores, dropped = explanation.get("scores", {}), explanation.get("dropped", {})
    if str(decision.promotion_id) == key:
        return PromotionVerdict(chosen=True, outcome=decision.outcome, score=scores.get(key))
    if key in dropped:
        return PromotionVerdict(chosen=False, dropped_because=dropped[key])
    if key in scores:
        return PromotionVerdict(
            chosen=False,
            outranked=True,
            score=scores[key],
            winner_score=scores.get(str(decision.promotion_id)),
        )
    return PromotionVerdict(chosen=False, dropped_because=["not_a_candidate"])
