"""The customer lifecycle: the operator's thresholds, figures by week (for the mall, a store, a
segment), one member's view (operators only), and a store's own figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api.auth import OperatorMall, TenantUser
from api.deps import SessionDep, UnitOfWorkRoute
from api.params import MAX_ID, SinceDay, UntilDay
from api.schemas import error_responses
from core.days import FIRST_DAY, LAST_DAY
from core.errors import InvalidInput, NotFound
from core.members.models import PURCHASE_SEGMENTS
from core.tenants.models import Tenant
from geofence.models import Mall
from loyalty import figures
from loyalty.nightly import get_loyalty_rules, put_loyalty_rules
from loyalty.schemas import (
    LifecycleOut,
    LoyaltyRulesIn,
    LoyaltyRulesOut,
    MemberLookup,
    MemberViewOut,
)

router = APIRouter(tags=["lifecycle"], route_class=UnitOfWorkRoute)

DEFAULT_WEEKS = 13
Segment = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="Only the members now in this segment: " + ", ".join(PURCHASE_SEGMENTS),
    ),
]


@router.get(
    "/v1/malls/{mall_id}/loyalty/rules",
    summary="Thresholds of the purchase segments and lifecycle figures",
    response_model=LoyaltyRulesOut,
    responses=error_responses(401, 403, 404),
)
def read_rules(mall: OperatorMall, session: SessionDep) -> LoyaltyRulesOut:
    rules = get_loyalty_rules(session, mall.id)
    return LoyaltyRulesOut(mall_id=mall.id, **rules.model_dump())


@router.put(
    "/v1/malls/{mall_id}/loyalty/rules",
    summary="Set the thresholds (they apply from the next nightly run)",
    response_model=LoyaltyRulesOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def write_rules(body: LoyaltyRulesIn, mall: OperatorMall, session: SessionDep) -> LoyaltyRulesOut:
    rules = put_loyalty_rules(session, mall.id, body)
    return LoyaltyRulesOut(mall_id=mall.id, **rules.model_dump())


@router.get(
    "/v1/malls/{mall_id}/lifecycle",
    summary="Lifecycle figures by week: active, new and activated members, frequency, order "
    "value, revenue, lapsed; churn risk and predicted value now",
    response_model=LifecycleOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def mall_lifecycle(
    mall: OperatorMall,
    session: SessionDep,
    since: SinceDay = None,
    until: UntilDay = None,
    tenant_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="One store")] = None,
    segment: Segment = None,
) -> LifecycleOut:
    if tenant_id is not None:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or tenant.mall_id != mall.id:
            raise NotFound("no such tenant in this mall", code="tenant_not_found")
    first, last = _weeks(mall, since, until)
    return figures.lifecycle(session, mall.id, tenant_id, segment, first, last)


@router.get(
    "/v1/tenant/lifecycle",
    summary="Your store's lifecycle figures by week (your customers only)",
    response_model=LifecycleOut,
    responses=error_responses(400, 401, 403, 422),
)
def store_lifecycle(
    tenant: TenantUser,
    session: SessionDep,
    since: SinceDay = None,
    until: UntilDay = None,
    segment: Segment = None,
) -> LifecycleOut:
    mall = session.get(Mall, tenant.mall_id)
    if mall is None:
        raise NotFound("your mall is gone", code="mall_not_found")
    first, last = _weeks(mall, since, until)
    return figures.lifecycle(session, mall.id, tenant.tenant_id, segment, first, last)


@router.post(
    "/v1/malls/{mall_id}/members/view",
    summary="One member's timeline (visits, dwells, pushes, opens, redemptions, purchases), "
    "segments and lifecycle figures",
    response_model=MemberViewOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def member_view(body: MemberLookup, mall: OperatorMall, session: SessionDep) -> MemberViewOut:
    # A POST with the id in the body: a member id in a URL would end up in access logs.
    view = figures.member_view(session, mall.id, body.member_id)
    if view is None:
        raise NotFound("this mall knows no such member", code="member_not_found")
    return view


def _weeks(mall: Mall, since: date | None, until: date | None) -> tuple[date, date]:
    """Mondays of the weeks that hold `since` and `until` (default: the last 13 weeks)."""
    today = datetime.now(UTC).astimezone(ZoneInfo(mall.timezone)).date()
    last = until or today
    if not FIRST_DAY + timedelta(weeks=DEFAULT_WEEKS) <= last <= LAST_DAY or (
        since is not None and since < FIRST_DAY
    ):  # a week before year 1 does not exist: no day may come near it
        raise InvalidInput(f"days lie from {FIRST_DAY} to {LAST_DAY}", code="invalid_range")
    first = since or last - timedelta(weeks=DEFAULT_WEEKS - 1)
    if last < first:
        raise InvalidInput("`until` is before `since`", code="invalid_range")
    return first - timedelta(days=first.weekday()), last
