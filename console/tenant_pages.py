"""A store's pages: its offers (with a phone preview), its results, the till."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, UnitOfWorkRoute
from api.params import PromotionId
from console.common import SEGMENT_LABELS, TenantStaff, templates
from console.floors import floor_plan
from core.zones import ZoneFact
from promotions import catalog
from promotions.payload import FCM_PAYLOAD_LIMIT

router = APIRouter(prefix="/console", include_in_schema=False, route_class=UnitOfWorkRoute)


@router.get("/offers", response_class=HTMLResponse)
def offers(request: Request, staff: TenantStaff, session: SessionDep) -> Response:
    tenant_id, mall_id = _store(staff)
    rows = catalog.list_promotions(session, mall_id=mall_id, tenant_id=tenant_id)
    return templates.TemplateResponse(
        request,
        "offers.html",
        {
            "staff": staff,
            "section": "offers",
            "offers": [catalog.promotion_out(p) for p in rows],
        },
    )


@router.get("/offers/new", response_class=HTMLResponse)
def new_offer(request: Request, staff: TenantStaff, session: SessionDep) -> Response:
    return _editor(request, staff, session, None)


@router.get("/offers/{promotion_id}", response_class=HTMLResponse)
def offer(
    request: Request, promotion_id: PromotionId, staff: TenantStaff, session: SessionDep
) -> Response:
    # The same lookup as the API's: another store's offer is not found (404), not forbidden.
    tenant_id, mall_id = _store(staff)
    row = catalog.get_promotion(session, promotion_id, mall_id=mall_id, tenant_id=tenant_id)
    return _editor(request, staff, session, catalog.promotion_out(row).model_dump(mode="json"))


@router.get("/till", response_class=HTMLResponse)
def till(request: Request, staff: TenantStaff) -> Response:
    return templates.TemplateResponse(request, "till.html", {"staff": staff, "section": "till"})


@router.get("/results", response_class=HTMLResponse)
def results(request: Request, staff: TenantStaff) -> Response:
    return templates.TemplateResponse(
        request,
        "results.html",
        {
            "staff": staff,
            "section": "results",
            "mall": None,
            "results_url": "/v1/tenant/results",
            "daily_url": "/v1/tenant/results/daily",
            "lift_url": "/v1/tenant/results/lift-by-day",
            "revenue_url": "/v1/tenant/results/revenue",
        },
    )


@router.get("/customers", response_class=HTMLResponse)
def customers(request: Request, staff: TenantStaff) -> Response:
    return templates.TemplateResponse(
        request,
        "customers.html",
        {
            "staff": staff,
            "section": "customers",
            "mall": None,
            "stores": [],
            "lifecycle_url": "/v1/tenant/lifecycle",
            "segments": SEGMENT_LABELS,
        },
    )


def _store(staff: TenantStaff) -> tuple[int, int]:
    """The tenant's id and its mall's (a tenant account always has both)."""
    tenant_id, mall_id = staff.tenant_id, staff.mall_id
    if tenant_id is None or mall_id is None:
        raise AssertionError("a tenant account without its store")
    return tenant_id, mall_id


def _editor(
    request: Request, staff: TenantStaff, session: SessionDep, offer: dict[str, Any] | None
) -> Response:
    tenant_id, mall_id = _store(staff)
    rules = catalog.get_rules(session, mall_id)
    plan = floor_plan(session, staff.scope, mall_id)
    for feature in plan["features"]:
        props = feature["properties"]
        fact = ZoneFact(zone_id=feature["id"], tenant_id=props.get("tenant"), kind=props["kind"])
        props["targetable"] = catalog.tenant_may_target(fact, tenant_id, rules)
    editable = offer is None or offer["status"] in ("draft", "rejected")
    return templates.TemplateResponse(
        request,
        "offer.html",
        {
            "staff": staff,
            "section": "offers",
            "offer": offer,
            "plan": plan,
            "editable": editable,
            "limit": FCM_PAYLOAD_LIMIT,
            "may_target_mall": rules.tenants_may_target_mall,
        },
    )
