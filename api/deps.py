"""Per-process services the app holds, as typed dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.metrics import Metrics
from core.events import EventSink
from geofence.cache import ZoneIndexCache


def zone_cache(request: Request) -> ZoneIndexCache:
    cache: ZoneIndexCache = request.app.state.zone_cache
    return cache


def event_sink(request: Request) -> EventSink:
    sink: EventSink = request.app.state.event_sink
    return sink


ZoneCacheDep = Annotated[ZoneIndexCache, Depends(zone_cache)]
EventSinkDep = Annotated[EventSink, Depends(event_sink)]


def metrics(request: Request) -> Metrics:
    registry: Metrics = request.app.state.metrics
    return registry


MetricsDep = Annotated[Metrics, Depends(metrics)]
