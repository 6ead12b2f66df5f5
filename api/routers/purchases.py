"""Purchases in: from a store's till (a tenant key) or the mall's loyalty programme (an operator
key); a member's erasure."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import OperatorMall, TenantUser
from api.deps import SessionDep, UnitOfWorkRoute
from api.schemas import error_responses
from core.members.service import erase_member
from loyalty.purchases import store_purchases
from loyalty.schemas import ProgrammeBatch, PurchasesStored, TillBatch

router = APIRouter(tags=["purchases"], route_class=UnitOfWorkRoute)


@router.post(
    "/v1/tenant/purchases",
    summary="Your till's receipts of loyalty members (sent again, nothing is stored twice)",
    response_model=PurchasesStored,
    responses=error_responses(400, 401, 403, 413, 422),
)
def till_purchases(body: TillBatch, tenant: TenantUser, session: SessionDep) -> PurchasesStored:
    receipts = [(tenant.tenant_id, receipt) for receipt in body.purchases]
    return store_purchases(session, tenant.mall_id, receipts, datetime.now(UTC))


@router.post(
    "/v1/malls/{mall_id}/purchases",
    summary="The loyalty programme's receipts, of any store of the mall",
    response_model=PurchasesStored,
    responses=error_responses(400, 401, 403, 404, 413, 422),
)
def programme_purchases(
    body: ProgrammeBatch, mall: OperatorMall, session: SessionDep
) -> PurchasesStored:
    receipts = [(receipt.store, receipt) for receipt in body.purchases]
    return store_purchases(session, mall.id, receipts, datetime.now(UTC))


class MemberErasure(BaseModel):
    member_id: str = Field(min_length=1, max_length=64, description="As the card shows it")


class Erased(BaseModel):
    erased: bool = Field(description="Whether the mall knew such a member (now forgotten)")


@router.post(
    "/v1/malls/{mall_id}/members/erase",
    summary="Erase a loyalty member: their purchases and device links go with them",
    response_model=Erased,
    responses=error_responses(400, 401, 403, 404, 422),
)
def erase(body: MemberErasure, mall: OperatorMall, session: SessionDep) -> Erased:
    # In the body, not the path: a member id in a URL would end up in access logs.
    return Erased(erased=erase_member(session, mall.id, body.member_id))
