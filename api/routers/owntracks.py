"""OwnTracks HTTP mode: the open-source OwnTracks app as a shopper client, unmodified.

Set the app to HTTP mode with URL `https://<host>/owntracks`, user = the device id and
password = the device token (docs/owntracks.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.auth import DeviceTokensDep, authenticate_device
from api.db import SessionDep
from api.deps import EventSinkDep, MetricsDep, ZoneCacheDep
from api.metrics import Metrics
from api.routers.shoppers import count
from api.schemas import error_responses
from api.settings import Settings, SettingsDep
from core.errors import BadRequest, InvalidInput, Unauthorized
from core.events import EventSink
from geofence.cache import ZoneIndexCache
from geofence.owntracks import location_ping, set_waypoints
from geofence.tracking import ingest_pings
from push.models import Device

router = APIRouter(tags=["shoppers: OwnTracks"])


def owntracks_device(request: Request, session: SessionDep, tokens: DeviceTokensDep) -> Device:
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
    response_model=list[dict[str, Any]],
    responses=error_responses(400, 401, 403, 413, 422),
)
async def owntracks(
    request: Request,
    device: OwnTracksDevice,
    session: SessionDep,
    settings: SettingsDep,
    cache: ZoneCacheDep,
    sink: EventSinkDep,
    metrics: MetricsDep,
) -> list[dict[str, Any]]:
    body = await request.body()
    if not body.strip():
        return []  # the app posts an empty payload when a friend is deleted
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the payload is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(payload, dict):
        raise InvalidInput("an OwnTracks payload is a JSON object", code="invalid_payload")
    ping = location_ping(payload)
    if ping is None:
        return []
    return await run_in_threadpool(_ingest, session, cache, sink, device, ping, settings, metrics)


def _ingest(
    session: Session,
    cache: ZoneIndexCache,
    sink: EventSink,
    device: Device,
    ping: dict[str, Any],
    settings: Settings,
    metrics: Metrics,
) -> list[dict[str, Any]]:
    result = ingest_pings(
        session,
        cache,
        device,
        [ping],
        mall_hint=None,
        now=time.time(),
        rules=settings.presence_rules(),
        limits=settings.ingest_limits(),
        sink=sink,
    )
    if result.rejections:
        rejection = result.rejections[0]
        session.rollback()
        raise InvalidInput(rejection.message, code=rejection.code)
    messages: list[dict[str, Any]] = []
    index = cache.index(session, result.mall_id) if result.mall_id is not None else None
    if index is not None and device.owntracks_waypoints_version != index.version:
        messages.append(set_waypoints(index))
        device.owntracks_waypoints_version = index.version
    session.commit()
    count(metrics, result)
    return messages
