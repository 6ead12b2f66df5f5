"""The mall operators' pages: floors and zones, import, approvals, rules, results, customers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, UnitOfWorkRoute
from api.params import MallId
from console.common import SEGMENT_LABELS, OperatorStaff, templates
from console.floors import floor_plan
from core.tenants import service as tenant_service
from geofence.malls import get_mall, list_malls
from geofence.schemas import Occupancy, ZoneKind
from promotions import catalog

router = APIRouter(prefix="/console/malls", include_in_schema=False, route_class=UnitOfWorkRoute)


@router.get("", response_class=HTMLResponse)
def malls(request: Request, staff: OperatorStaff, session: SessionDep) -> Response:
    rows = list_malls(session, staff.scope)
    return templates.TemplateResponse(request, "malls.html", {"staff": staff, "malls": rows})


@router.get("/{mall_id}", response_class=HTMLResponse)
def mall_home(
    request: Request, mall_id: MallId, staff: OperatorStaff, session: SessionDep
) -> Response:
    return map_page(request, mall_id, staff, session)


@router.get("/{mall_id}/map", response_class=HTMLResponse)
def map_page(
    request: Request, mall_id: MallId, staff: OperatorStaff, session: SessionDep
) -> Response:
    return _page(
        request,
        staff,
        session,
        mall_id,
        "map",
        {
            "plan": floor_plan(session, staff.scope, mall_id),
            "kinds": [kind.value for kind in ZoneKind],
            "occupancies": [o.value for o in Occupancy],
        },
    )


@router.get("/{mall_id}/import", response_class=HTMLResponse)
def import_page(
    request: Request, mall_id: MallId, staff: OperatorStaff, session: SessionDep
) -> Response:
    return _page(
        request,
        staff,
        session,
        mall_id,
        "import",
        {"plan": floor_plan(session, staff.scope, mall_id)},
    )


@router.get("/{mall_id}/approvals", response_class=HTMLResponse)
def approvals(
    request: Request, mall_id: MallId, staff: OperatorStaff, session: SessionDep
) -> Response:
    waiting = catalog.list_promotions(session, mall_id=mall_id, status="submitted")
    stores = {t.id: t.name for t in tenant_service.list_tenants(session, mall_id)}
    return _page(
        request,
        staff,
        session,
        mall_id,
        "approvals",
        {
            "offers": [catalog.promotion_out(p).model_dump(mode="json") for p in waiting],
            "stores": stores,
            "plan": floor_plan(session, staff.scope, mall_id),
        },
    )


@router.get("/{mall_id}/rules", response_class=HTMLResponse)
def rules(request: Request, mall_id: MallId, staff: OperatorStaff, session: SessionDep) -> Response:
    return _page(
        request,
        staff,
        session,
        mall_id,
        "rules",
        {
            "rules": catalog.get_rules(session, mall_id).model_dump(mode="json"),
            "kinds": [kind.value for kind in ZoneKind],
        },
    )


@router.get("/{mall_id}/results", response_class=HTMLResponse)
def results(
    request: Request, mall_id: MallId, staff: OperatorStaff, session: SessionDep
) -> Response:
    return _page(
        request,
        staff,
        session,
        mall_id,
        "results",
        {
            "results_url": f"/v1/malls/{mall_id}/analytics",
            "daily_url": f"/v1/malls/{mall_id}/analytics/daily",
            "lift_url": f"/v1/malls/{mall_id}/analytics/lift-by-day",
            "revenue_url": f"/v1/malls/{mall_id}/analytics/revenue",
            "footfall_url": f"/v1/malls/{mall_id}/footfall",
            "presence_url": f"/v1/malls/{mall_id}/presence",
            "events_url": f"/v1/malls/{mall_id}/zone-events",
            "plan": floor_plan(session, staff.scope, mall_id),
        },
        template="results.html",
    )


@router.get("/{mall_id}/customers", response_class=HTMLResponse)
def customers(
    request: Request, mall_id: MallId, staff: OperatorStaff, session: SessionDep
) -> Response:
    stores = tenant_service.list_tenants(session, mall_id)  # _page: 404 outside the scope
    return _page(
        request,
        staff,
        session,
        mall_id,
        "customers",
        {
            "lifecycle_url": f"/v1/malls/{mall_id}/lifecycle",
            "stores": [{"id": t.id, "name": t.name} for t in stores],
            "segments": SEGMENT_LABELS,
        },
    )


def _page(
    request: Request,
    staff: OperatorStaff,
    session: SessionDep,
    mall_id: int,
    section: str,
    context: dict[str, Any],
    *,
    template: str | None = None,
) -> Response:
    mall = get_mall(session, staff.scope, mall_id)  # outside the operator's malls: 404
    return templates.TemplateResponse(
        request,
        template or f"{section}.html",
        {"staff": staff, "mall": mall, "section": section, **context},
    )
