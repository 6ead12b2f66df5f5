"""Shopper apps: their device, consents, and location pings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from access.tokens import DeviceTokens
from api.auth import DeviceTokensDep, ShopperClaims, ShopperDevice, lock_device
from api.deps import IngestGateDep, MetricsDep, SessionDep, UnitOfWorkRoute
from api.metrics import Metrics
from api.params import MAX_ID, PromotionId
from api.schemas import error_responses
from core.devices import service as devices
from core.devices.models import Device
from core.devices.schemas import (
    DeviceCreate,
    DeviceOut,
    DevicePatch,
    DeviceRegistered,
    MemberLink,
)
from core.errors import Forbidden
from core.events import DecisionSummary
from core.members.service import link_device, member_of, unlink_device
from core.scope import MallScope
from geofence.ingest import IngestRequest, IngestResult
from geofence.maintenance import forget_presence
from geofence.malls import get_mall
from geofence.presence import PingFlag
from geofence.schemas import (
    DecisionOut,
    EventOut,
    PingBatch,
    PingBatchResult,
    PingFlags,
    PingRejection,
)
from promotions import outcomes
from promotions.schemas import OpenedOut, RedemptionOut

router = APIRouter(tags=["shoppers"], route_class=UnitOfWorkRoute)


@router.post(
    "/v1/devices",
    summary="Register a device: returns its id and bearer token (shown once)",
    status_code=status.HTTP_201_CREATED,
    response_model=DeviceRegistered,
    responses=error_responses(400, 422),
)
def register_device(
    body: DeviceCreate, session: SessionDep, tokens: DeviceTokensDep
) -> DeviceRegistered:
    device = devices.register_device(session, body)
    return _registered(device, tokens)


@router.get(
    "/v1/devices/me",
    summary="Read your device",
    response_model=DeviceOut,
    responses=error_responses(401, 403),
)
def read_device(device: ShopperDevice, session: SessionDep) -> DeviceOut:
    return devices.device_out(device, member_linked=member_of(session, device.id) is not None)


@router.patch(
    "/v1/devices/me",
    summary="Change the FCM token, consents, locale or interests",
    response_model=DeviceOut,
    responses=error_responses(400, 401, 403, 422),
)
def update_device(body: DevicePatch, device: ShopperDevice, session: SessionDep) -> DeviceOut:
    update = devices.update_device(session, lock_device(session, device), body)
    if update.location_withdrawn:
        forget_presence(session, device.id)
    linked = member_of(session, device.id) is not None
    return devices.device_out(update.device, member_linked=linked)


@router.put(
    "/v1/devices/me/member",
    summary="Link this device to the shopper's loyalty membership (needs the loyalty consent)",
    response_model=DeviceOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def link_member(body: MemberLink, device: ShopperDevice, session: SessionDep) -> DeviceOut:
    device = lock_device(session, device)  # the consent as it stands, not as it was read
    if not device.consent_loyalty:
        raise Forbidden(
            "linking a membership needs the shopper's loyalty consent first "
            "(PATCH /v1/devices/me with consents.loyalty = true)",
            code="consent_required",
        )
    get_mall(session, MallScope.everything(), body.mall_id)  # a mall that is not there: 404
    link_device(session, device.id, body.mall_id, body.member_id)
    return devices.device_out(device, member_linked=True)


@router.delete(
    "/v1/devices/me/member",
    summary="Unlink this device from the loyalty membership",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403),
)
def unlink_member(device: ShopperDevice, session: SessionDep) -> Response:
    unlink_device(session, lock_device(session, device).id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/devices/me/token",
    summary="Issue a new token; every earlier token stops working",
    response_model=DeviceRegistered,
    responses=error_responses(401, 403),
)
def rotate_token(
    device: ShopperDevice, session: SessionDep, tokens: DeviceTokensDep
) -> DeviceRegistered:
    device = devices.rotate_token(session, lock_device(session, device))
    return _registered(device, tokens)


def _registered(device: Device, tokens: DeviceTokens) -> DeviceRegistered:
    return DeviceRegistered(
        device_id=device.id,
        token=tokens.issue(device.id, device.token_version),
        device=devices.device_out(device),
    )


@router.delete(
    "/v1/devices/me",
    summary="Erase the device with its pings, presence, events and decisions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403),
)
def erase_device(device: ShopperDevice, session: SessionDep) -> Response:
    devices.erase_device(session, lock_device(session, device))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/pings",
    summary="Send a batch of location pings; answers what happened to each",
    response_model=PingBatchResult,
    responses=error_responses(400, 401, 403, 404, 413, 422),
)
async def send_pings(
    body: PingBatch, claims: ShopperClaims, gate: IngestGateDep, metrics: MetricsDep
) -> PingBatchResult:
    request = IngestRequest(
        claims.device_id, body.pings, body.mall_id, claims.version, body.sent_at
    )
    result = await gate.ingest(request)
    count(metrics, result)
    return batch_result(result)


def count(metrics: Metrics, result: IngestResult) -> None:
    """Counted after the commit: what the metrics say has happened."""
    for name, value in (
        ("accepted", result.accepted),
        ("duplicate", result.duplicates),
        ("rejected", len(result.rejections)),
        ("outside", result.outside),
    ):
        if value:
            metrics.pings.labels(name).inc(value)
    for event in result.events:
        metrics.events.labels(event.kind, event.subject).inc()
    for decision in result.decisions.values():
        metrics.decisions.labels(decision.outcome).inc()


def batch_result(result: IngestResult) -> PingBatchResult:
    return PingBatchResult(
        mall_id=result.mall_id,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=len(result.rejections),
        outside=result.outside,
        clock_offset_s=result.clock_offset_s,
        rejections=[
            PingRejection(index=r.index, code=r.code, message=r.message) for r in result.rejections
        ],
        flagged=[PingFlags(index=i, flags=flag_names(flag)) for i, flag in result.flagged],
        events=[
            EventOut(
                id=e.id,
                kind=e.kind,
                subject=e.subject,
                zone_id=e.zone_id,
                zone_name=e.zone_name,
                zone_kind=e.zone_kind,
                level=e.level,
                at=e.at,
                dwell_s=e.dwell_s,
                reason=e.reason,
                confidence=e.confidence,
                evidence_from=e.evidence_from,
                evidence_fixes=e.evidence_fixes,
                decision=_decision_out(result.decisions.get(e.id)),
            )
            for e in result.events
        ],
    )


def _decision_out(decision: DecisionSummary | None) -> DecisionOut | None:
    return None if decision is None else DecisionOut.model_validate(decision, from_attributes=True)


def flag_names(flag: PingFlag) -> list[str]:
    return [f.name.lower() for f in PingFlag if f and f in flag and f.name]


@router.post(
    "/v1/offers/{promotion_id}/opened",
    summary="The shopper opened the push of this offer (idempotent)",
    response_model=OpenedOut,
    responses=error_responses(401, 403, 404),
)
def offer_opened(
    promotion_id: PromotionId,
    device: ShopperDevice,
    session: SessionDep,
    decision_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="The push, if known")
    ] = None,
) -> OpenedOut:
    decision = outcomes.opened(session, device.id, promotion_id, decision_id)
    return OpenedOut(decision_id=decision.id, opened_at=decision.opened_at)


@router.post(
    "/v1/offers/{promotion_id}/redeemed",
    summary="The shopper redeemed this offer (idempotent; attributed to a push or holdout)",
    response_model=RedemptionOut,
    responses=error_responses(401, 403, 404),
)
def offer_redeemed(
    promotion_id: PromotionId, device: ShopperDevice, session: SessionDep
) -> RedemptionOut:
    redemption = outcomes.redeemed(session, device.id, promotion_id)
    return RedemptionOut(
        promotion_id=promotion_id, decision_id=redemption.decision_id, redeemed_at=redemption.at
    )
