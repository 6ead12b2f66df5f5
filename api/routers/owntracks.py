"""OwnTracks HTTP mode: the open-source OwnTracks app as a shopper client, unmodified.

Set the app to HTTP mode with URL `https://<host>/owntracks`, user = the device id and
password = the device token (docs/owntracks.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.auth import OWNTRACKS, DeviceTokensDep, authenticate_device
from api.deps import IngestGateDep, MetricsDep, SessionDep, UnitOfWorkRoute, ZoneCacheDep
from api.metrics import Metrics
from api.routers.shoppers import count
from api.schemas import error_responses
from core.devices.models import Device
from core.errors import BadRequest, InvalidInput, MallcastError, Unauthorized
from geofence.cache import ZoneIndexCache
from geofence.ingest import IngestRequest
from geofence.owntracks import location_ping, set_waypoints

router = APIRouter(tags=["shoppers: OwnTracks"], route_class=UnitOfWorkRoute)
log = logging.getLogger("mallcast.owntracks")


def owntracks_device(
    request: Request,
    session: SessionDep,
    tokens: DeviceTokensDep,
    declared: None = Security(OWNTRACKS),
) -> Device:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized(
            "OwnTracks authenticates with HTTP Basic: user = device id, password = device token",
            code="missing_credentials",
        )
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials", code="invalid_credentials") from None
    return authenticate_device(session, tokens, user, password)


OwnTracksDevice = Annotated[Device, Depends(owntracks_device)]


@router.post(
    "/owntracks",
    summary="OwnTracks HTTP mode: a location payload in, an array of app messages out",
    description="The app keeps a message answered with anything but 2xx at the head of its "
    "queue and sends it again and again; so a payload mallcast cannot use (not JSON, "
    "encrypted, a location that is too old, in the future or out of range) is answered 200 "
    "with `[]`, nothing stored, and counted in `mallcast_owntracks_dropped_total{reason}`. "
    "Only credentials (401) and consent (403) are refused.",
    response_model=list[dict[str, Any]],
    responses=error_responses(401, 403, 413),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"_type": {"type": "string"}}}
                }
            },
        }
    },
)
async def owntracks(
    request: Request,
    device: OwnTracksDevice,
    session: SessionDep,
    cache: ZoneCacheDep,
    gate: IngestGateDep,
    metrics: MetricsDep,
) -> list[dict[str, Any]]:
    body = await request.body()
    if not body.strip():
        return []  # the app posts an empty payload when a friend is deleted
    try:
        ping = location_ping(_payload(body))
    except MallcastError as exc:
        return _dropped(metrics, exc.code)
    if ping is None:
        return []
    # The same gate as /v1/pings: batched with other devices' pings, in its own transaction.
    result = await gate.ingest(IngestRequest(device.id, [ping], None, device.token_version))
    if result.rejections:  # the one ping was refused: nothing was stored
        return _dropped(metrics, result.rejections[0].code)
    count(metrics, result)
    return await run_in_threadpool(_waypoints, session, cache, device, result.mall_id)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than it can be read
        raise BadRequest("the payload is not valid JSON", code="malformed_json") from None
    if not isinstance(payload, dict):
        raise InvalidInput("an OwnTracks payload is a JSON object", code="invalid_payload")
    return payload


def _dropped(metrics: Metrics, reason: str) -> list[dict[str, Any]]:
    # Why, never what: a payload is a location.
    log.info("OwnTracks payload answered 200 and dropped: %s", reason)
    metrics.owntracks_dropped.labels(reason).inc()
    return []


def _waypoints(
    session: Session, cache: ZoneIndexCache, device: Device, mall_id: int | None
) -> list[dict[str, Any]]:
    """The mall's zones as OwnTracks waypoints, once per zones version (the app shows them)."""
    index = cache.index(session, mall_id) if mall_id is not None else None
    if index is None or device.owntracks_waypoints_version == index.version:
        return []
    device.owntracks_waypoints_version = index.version
    return [set_waypoints(index)]
