"""Operators: the tenants (stores) of a mall."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.auth import OperatorMall
from api.deps import SessionDep, UnitOfWorkRoute
from api.params import TenantId
from api.schemas import error_responses
from core.tenants import service
from core.tenants.schemas import TenantCreate, TenantOut, TenantUpdate

router = APIRouter(
    prefix="/v1/malls/{mall_id}/tenants", tags=["operators: tenants"], route_class=UnitOfWorkRoute
)


@router.get(
    "",
    summary="List a mall's tenants",
    response_model=list[TenantOut],
    responses=error_responses(401, 403, 404),
)
def list_tenants(mall: OperatorMall, session: SessionDep) -> list[TenantOut]:
    return [TenantOut.model_validate(t) for t in service.list_tenants(session, mall.id)]


@router.post(
    "",
    summary="Add a tenant (a store)",
    status_code=status.HTTP_201_CREATED,
    response_model=TenantOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def create_tenant(mall: OperatorMall, body: TenantCreate, session: SessionDep) -> TenantOut:
    tenant = service.create_tenant(session, mall.id, body)
    return TenantOut.model_validate(tenant)


@router.get(
    "/{tenant_id}",
    summary="Read a tenant",
    response_model=TenantOut,
    responses=error_responses(401, 403, 404),
)
def read_tenant(mall: OperatorMall, tenant_id: TenantId, session: SessionDep) -> TenantOut:
    return TenantOut.model_validate(service.get_tenant(session, mall.id, tenant_id))


@router.patch(
    "/{tenant_id}",
    summary="Rename a tenant or change its category",
    response_model=TenantOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def update_tenant(
    mall: OperatorMall, tenant_id: TenantId, body: TenantUpdate, session: SessionDep
) -> TenantOut:
    tenant = service.update_tenant(session, mall.id, tenant_id, body)
    return TenantOut.model_validate(tenant)


@router.delete(
    "/{tenant_id}",
    summary="Delete a tenant with its keys (its zones stay, without a tenant)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
def delete_tenant(mall: OperatorMall, tenant_id: TenantId, session: SessionDep) -> Response:
    service.delete_tenant(session, mall.id, tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
