"""Tenants: their own promotions, results, and redemption codes (nothing of other tenants)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from api.auth import TenantUser
from api.deps import SessionDep, UnitOfWorkRoute
from api.params import PromotionId, SinceDay, UntilDay
from api.schemas import error_responses
from core.tenants import service as tenant_service
from core.tenants.schemas import TenantMe
from geofence.zones import zone_facts
from promotions import analytics, catalog, outcomes, revenue, rollups
from promotions.models import Promotion
from promotions.result_schemas import DayLift, DayResults, ResultsOut, RevenueOut
from promotions.schemas import (
    CodeRedemption,
    PromotionCreate,
    PromotionOut,
    PromotionUpdate,
    RedemptionOut,
)

router = APIRouter(prefix="/v1/tenant", tags=["tenants"], route_class=UnitOfWorkRoute)


def _own(session: Session, tenant: TenantUser, promotion_id: int) -> Promotion:
    return catalog.get_promotion(
        session, promotion_id, mall_id=tenant.mall_id, tenant_id=tenant.tenant_id
    )


@router.get(
    "/me",
    summary="Who you are: your store and mall",
    response_model=TenantMe,
    responses=error_responses(401, 403),
)
def me(tenant: TenantUser, session: SessionDep) -> TenantMe:
    row = tenant_service.get_tenant(session, tenant.mall_id, tenant.tenant_id)
    return TenantMe(tenant_id=row.id, mall_id=row.mall_id, name=row.name, category=row.category)


@router.post(
    "/promotions",
    summary="Create a promotion (a draft)",
    status_code=status.HTTP_201_CREATED,
    response_model=PromotionOut,
    responses=error_responses(400, 401, 403, 422),
)
def create_promotion(
    body: PromotionCreate, tenant: TenantUser, session: SessionDep
) -> PromotionOut:
    zones = zone_facts(session, tenant.mall_id, body.targets.zones)
    promotion = catalog.create_promotion(
        session, mall_id=tenant.mall_id, tenant_id=tenant.tenant_id, data=body, zones=zones
    )
    return catalog.promotion_out(promotion)


@router.get(
    "/promotions",
    summary="Your promotions",
    response_model=list[PromotionOut],
    responses=error_responses(401, 403),
)
def list_promotions(tenant: TenantUser, session: SessionDep) -> list[PromotionOut]:
    rows = catalog.list_promotions(session, mall_id=tenant.mall_id, tenant_id=tenant.tenant_id)
    return [catalog.promotion_out(p) for p in rows]


@router.get(
    "/promotions/{promotion_id}",
    summary="One of your promotions",
    response_model=PromotionOut,
    responses=error_responses(401, 403, 404),
)
def read_promotion(
    promotion_id: PromotionId, tenant: TenantUser, session: SessionDep
) -> PromotionOut:
    return catalog.promotion_out(_own(session, tenant, promotion_id))


@router.patch(
    "/promotions/{promotion_id}",
    summary="Edit a draft or rejected promotion (it becomes a draft)",
    response_model=PromotionOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def update_promotion(
    promotion_id: PromotionId, body: PromotionUpdate, tenant: TenantUser, session: SessionDep
) -> PromotionOut:
    promotion = _own(session, tenant, promotion_id)
    targets = body.targets.zones if body.targets else promotion.targets.get("zones", [])
    zones = zone_facts(session, tenant.mall_id, targets)
    promotion = catalog.update_promotion(session, promotion, body, zones)
    return catalog.promotion_out(promotion)


def _transition(name: str, summary: str) -> None:
    action = getattr(catalog, name)

    @router.post(
        f"/promotions/{{promotion_id}}/{name}",
        summary=summary,
        response_model=PromotionOut,
        responses=error_responses(401, 403, 404, 409, 422),
        name=f"tenant_{name}",
    )
    def transition(
        promotion_id: PromotionId, tenant: TenantUser, session: SessionDep
    ) -> PromotionOut:
        promotion = action(session, _own(session, tenant, promotion_id))
        return catalog.promotion_out(promotion)


_transition("submit", "Submit for the operator's approval (checks the push fits FCM's 4 KB)")
_transition("pause", "Pause an approved promotion")
_transition("resume", "Resume a paused promotion")
_transition("end", "End a promotion for good")


@router.get(
    "/results",
    summary="Results of your promotions: funnel, conversion, lift",
    response_model=ResultsOut,
    responses=error_responses(401, 403),
)
def results(tenant: TenantUser, session: SessionDep) -> ResultsOut:
    return analytics.results(session, tenant.mall_id, tenant.tenant_id)


@router.get(
    "/results/revenue",
    summary="Your promotions' revenue lift per tier, treated against held out (95% intervals)",
    response_model=RevenueOut,
    responses=error_responses(401, 403),
)
def revenue_results(tenant: TenantUser, session: SessionDep) -> RevenueOut:
    return revenue.revenue(session, tenant.mall_id, datetime.now(UTC), tenant.tenant_id)


@router.get(
    "/results/daily",
    summary="Your promotions' funnel per day of the mall's calendar (rolled up hourly)",
    response_model=list[DayResults],
    responses=error_responses(401, 403, 422),
)
def daily_results(
    tenant: TenantUser,
    session: SessionDep,
    since: SinceDay = None,
    until: UntilDay = None,
) -> list[DayResults]:
    return rollups.daily(session, tenant.mall_id, since, until, datetime.now(UTC), tenant.tenant_id)


@router.get(
    "/results/lift-by-day",
    summary="Your promotions' lift with its 95% interval at the end of each day (computed live)",
    response_model=list[DayLift],
    responses=error_responses(401, 403, 422),
)
def lift_by_day(
    tenant: TenantUser, session: SessionDep, since: SinceDay = None, until: UntilDay = None
) -> list[DayLift]:
    return analytics.lift_by_day(
        session, tenant.mall_id, since, until, datetime.now(UTC), tenant.tenant_id
    )


@router.post(
    "/redemptions",
    summary="Check a code a shopper shows at the till, and record the redemption",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def redeem_code(body: CodeRedemption, tenant: TenantUser, session: SessionDep) -> RedemptionOut:
    redemption = outcomes.redeem_code(session, tenant.tenant_id, body.code)
    return RedemptionOut(
        promotion_id=redemption.promotion_id,
        decision_id=redemption.decision_id,
        redeemed_at=redemption.at,
    )
