"""Use cases of the promotions domain. The caller has resolved the mall within its scope."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import flush_or_conflict, lock_row
from core.errors import Conflict, NotFound
from core.tenants.models import Tenant
from core.tenants.schemas import TenantCreate, TenantUpdate

# -- tenants ------------------------------------------------------------------------------------


def list_tenants(session: Session, mall_id: int) -> Sequence[Tenant]:
    return session.scalars(
        select(Tenant).where(Tenant.mall_id == mall_id).order_by(Tenant.id)
    ).all()


def get_tenant(
    session: Session, mall_id: int, tenant_id: int, *, for_update: bool = False
) -> Tenant:
    tenant = lock_row(session, Tenant, tenant_id) if for_update else session.get(Tenant, tenant_id)
    if tenant is None or tenant.mall_id != mall_id:
        raise NotFound(f"mall {mall_id} has no tenant {tenant_id}", code="tenant_not_found")
    return tenant


def create_tenant(session: Session, mall_id: int, data: TenantCreate) -> Tenant:
    _check_name_free(session, mall_id, data.name)
    tenant = Tenant(mall_id=mall_id, name=data.name, category=data.category)
    session.add(tenant)
    _flush(session)
    return tenant


def update_tenant(session: Session, mall_id: int, tenant_id: int, data: TenantUpdate) -> Tenant:
    tenant = get_tenant(session, mall_id, tenant_id, for_update=True)
    if data.name is not None and data.name != tenant.name:
        _check_name_free(session, mall_id, data.name)
        tenant.name = data.name
    if data.category is not None:
        tenant.category = data.category
    _flush(session)
    return tenant


def delete_tenant(session: Session, mall_id: int, tenant_id: int) -> None:
    """The tenant's keys go with it; its zones stay, no longer tied to a store."""
    session.delete(get_tenant(session, mall_id, tenant_id, for_update=True))
    session.flush()


def _check_name_free(session: Session, mall_id: int, name: str) -> None:
    taken = session.scalar(select(Tenant.id).where(Tenant.mall_id == mall_id, Tenant.name == name))
    if taken is not None:
        raise Conflict(
            f"mall {mall_id} has a tenant named {name!r} already",
            code="duplicate_name",
            details={"tenant_id": taken},
        )


def _flush(session: Session) -> None:
    flush_or_conflict(session, "a concurrent change took that name first; retry")
