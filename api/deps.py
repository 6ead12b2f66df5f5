"""Per-process services the app holds, as typed dependencies.

They only read app.state: `async def`, so FastAPI calls them on the event loop instead of
sending each one to the thread pool (a thread hop apiece, per request, measured: a third of a
single-ping request was dependency solving).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.ingest import IngestGate
from api.metrics import Metrics
from core.events import EventSink
from geofence.cache import ZoneIndexCache


async def zone_cache(request: Request) -> ZoneIndexCache:
    cache: ZoneIndexCache = request.app.state.zone_cache
    return cache


async def event_sink(request: Request) -> EventSink:
    sink: EventSink = request.app.state.event_sink
    return sink


ZoneCacheDep = Annotated[ZoneIndexCache, Depends(zone_cache)]
EventSinkDep = Annotated[EventSink, Depends(event_sink)]


async def ingest_gate(request: Request) -> IngestGate:
    gate: IngestGate = request.app.state.ingest_gate
    return gate


IngestGateDep = Annotated[IngestGate, Depends(ingest_gate)]


async def metrics(request: Request) -> Metrics:
    registry: Metrics = request.app.state.metrics
    return registry


MetricsDep = Annotated[Metrics, Depends(metrics)]
