"""Operators: approve tenants' promotions, set the mall's rules, ask why, read results."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy.orm import Session

from api.auth import OperatorMall
from api.deps import SessionDep, UnitOfWorkRoute
from api.params import MAX_ID, PromotionId, SinceDay, UntilDay
from api.schemas import error_responses
from geofence.zones import zone_facts
from promotions import analytics, catalog, records, revenue, rollups
from promotions.models import Promotion
from promotions.result_schemas import DayLift, DayResults, ResultsOut, RevenueOut, SegmentSizesOut
from promotions.schemas import DecisionExplained, MallRulesIn, MallRulesOut, PromotionOut, Rejection

router = APIRouter(
    prefix="/v1/malls/{mall_id}", tags=["operators: promotions"], route_class=UnitOfWorkRoute
)


# The `version` of the promotion the operator read: a decision on anything else is refused (412).
IfMatch = Annotated[
    str | None,
    Header(max_length=200, description="The promotion's `version` as read (e.g. from the list)"),
]


def _promotion(session: Session, mall_id: int, promotion_id: int) -> Promotion:
    return catalog.get_promotion(session, promotion_id, mall_id=mall_id)


@router.get(
    "/promotions",
    summary="The mall's promotions (e.g. ?status=submitted: waiting for approval)",
    response_model=list[PromotionOut],
    responses=error_responses(401, 403, 404),
)
def list_promotions(
    mall: OperatorMall,
    session: SessionDep,
    status: Annotated[
        Literal["draft", "submitted", "approved", "rejected", "paused", "ended"] | None, Query()
    ] = None,
) -> list[PromotionOut]:
    rows = catalog.list_promotions(session, mall_id=mall.id, status=status)
    return [catalog.promotion_out(p) for p in rows]


@router.get(
    "/promotions/{promotion_id}",
    summary="One promotion",
    response_model=PromotionOut,
    responses=error_responses(401, 403, 404),
)
def read_promotion(
    mall: OperatorMall, promotion_id: PromotionId, session: SessionDep, response: Response
) -> PromotionOut:
    promotion = catalog.promotion_out(_promotion(session, mall.id, promotion_id))
    response.headers["ETag"] = f'"{promotion.version}"'
    return promotion


@router.post(
    "/promotions/{promotion_id}/approve",
    summary="Approve a submitted promotion: it is active from now (or its start date)",
    response_model=PromotionOut,
    responses=error_responses(401, 403, 404, 409, 412),
)
def approve(
    mall: OperatorMall, promotion_id: PromotionId, session: SessionDep, if_match: IfMatch = None
) -> PromotionOut:
    promotion = _promotion(session, mall.id, promotion_id)
    return catalog.promotion_out(catalog.approve(session, promotion, seen=if_match))


@router.post(
    "/promotions/{promotion_id}/reject",
    summary="Reject a submitted promotion, saying why",
    response_model=PromotionOut,
    responses=error_responses(401, 403, 404, 409, 412, 422),
)
def reject(
    mall: OperatorMall,
    promotion_id: PromotionId,
    body: Rejection,
    session: SessionDep,
    if_match: IfMatch = None,
) -> PromotionOut:
    promotion = _promotion(session, mall.id, promotion_id)
    return catalog.promotion_out(catalog.reject(session, promotion, body.reason, seen=if_match))


@router.post(
    "/promotions/{promotion_id}/pause",
    summary="Pause an approved promotion",
    response_model=PromotionOut,
    responses=error_responses(401, 403, 404, 409),
)
def pause(mall: OperatorMall, promotion_id: PromotionId, session: SessionDep) -> PromotionOut:
    promotion = catalog.pause(session, _promotion(session, mall.id, promotion_id))
    return catalog.promotion_out(promotion)


@router.get(
    "/rules",
    summary="The mall's rules",
    response_model=MallRulesOut,
    responses=error_responses(401, 403, 404),
)
def read_rules(mall: OperatorMall, session: SessionDep) -> MallRulesOut:
    rules = catalog.get_rules(session, mall.id)
    return MallRulesOut(mall_id=mall.id, **rules.model_dump())


@router.put(
    "/rules",
    summary="Set the mall's rules: caps, quiet hours, what tenants may target, segments",
    response_model=MallRulesOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def write_rules(mall: OperatorMall, body: MallRulesIn, session: SessionDep) -> MallRulesOut:
    zones = zone_facts(session, mall.id, body.tenant_zone_ids)
    rules = catalog.put_rules(session, mall.id, body, zones)
    return MallRulesOut(mall_id=mall.id, **rules.model_dump())


@router.get(
    "/decisions",
    summary="Decisions for a shopper, with their reasons: why they did or did not get an offer",
    response_model=list[DecisionExplained],
    responses=error_responses(401, 403, 404, 422),
)
def decisions(
    mall: OperatorMall,
    session: SessionDep,
    device_id: Annotated[uuid.UUID, Query(description="The shopper's device")],
    promotion_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Explain this promotion")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DecisionExplained]:
    return records.explain_decisions(session, mall.id, device_id, promotion_id, limit)


@router.get(
    "/analytics",
    summary="Funnel, conversion of treated and held-out shoppers, lift with a 95% interval",
    response_model=ResultsOut,
    responses=error_responses(401, 403, 404),
)
def mall_analytics(mall: OperatorMall, session: SessionDep) -> ResultsOut:
    return analytics.results(session, mall.id)


@router.get(
    "/analytics/revenue",
    summary="Revenue lift per promotion and tier: conversion to a purchase, incremental revenue "
    "per shopper, order value and churn, treated against held out, with 95% intervals",
    response_model=RevenueOut,
    responses=error_responses(401, 403, 404),
)
def mall_revenue(mall: OperatorMall, session: SessionDep) -> RevenueOut:
    return revenue.revenue(session, mall.id, datetime.now(UTC))


@router.get(
    "/analytics/daily",
    summary="Each promotion's funnel per day of the mall's calendar (rolled up hourly)",
    response_model=list[DayResults],
    responses=error_responses(401, 403, 404, 422),
)
def mall_daily(
    mall: OperatorMall,
    session: SessionDep,
    since: SinceDay = None,
    until: UntilDay = None,
) -> list[DayResults]:
    return rollups.daily(session, mall.id, since, until, datetime.now(UTC))


@router.get(
    "/analytics/lift-by-day",
    summary="The lift with its 95% interval as it stood at the end of each day (computed live)",
    response_model=list[DayLift],
    responses=error_responses(401, 403, 404, 422),
)
def mall_lift_by_day(
    mall: OperatorMall, session: SessionDep, since: SinceDay = None, until: UntilDay = None
) -> list[DayLift]:
    return analytics.lift_by_day(session, mall.id, since, until, datetime.now(UTC))


@router.get(
    "/segments",
    summary="How many shoppers each segment holds (recomputed nightly)",
    response_model=SegmentSizesOut,
    responses=error_responses(401, 403, 404),
)
def segment_sizes(mall: OperatorMall, session: SessionDep) -> SegmentSizesOut:
    return rollups.segment_sizes(session, mall.id)
