"""The request's unit of work and the per-process services the app holds, as typed
dependencies.

The services only read app.state: `async def`, so FastAPI calls them on the event loop instead
of sending each one to the thread pool (a thread hop apiece, per request, measured: a third of
a single-ping request was dependency solving).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.ingest_gate import IngestGate
from api.metrics import Metrics
from core.db import Database
from core.settings import Settings
from geofence.cache import ZoneIndexCache, zones_changed


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session, one transaction per request: committed when the handler returns, rolled
    back when it raises. Handlers and services only flush. After a commit that changed zones,
    this process's zone index is dropped (other replicas notice the version within
    `zone_refresh_s`).

    Async, so that opening the session (no I/O: it connects on first use) and closing an
    untouched one cost no thread hop; the commit or rollback runs on a worker thread."""
    database: Database = request.app.state.database
    session = database.sessions()
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
        if zones_changed(session):
            cache: ZoneIndexCache = request.app.state.zone_cache
            cache.invalidate()
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


# scope="function": the commit happens before the response is sent, so a failed commit is the
# client's error answer, never a 2xx for data that was not kept.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def zone_cache(request: Request) -> ZoneIndexCache:
    cache: ZoneIndexCache = request.app.state.zone_cache
    return cache


ZoneCacheDep = Annotated[ZoneIndexCache, Depends(zone_cache)]


async def ingest_gate(request: Request) -> IngestGate:
    gate: IngestGate = request.app.state.ingest_gate
    return gate


IngestGateDep = Annotated[IngestGate, Depends(ingest_gate)]


async def metrics(request: Request) -> Metrics:
    registry: Metrics = request.app.state.metrics
    return registry


MetricsDep = Annotated[Metrics, Depends(metrics)]


async def app_settings(request: Request) -> Settings:
    """The settings the running app was built with (tests build apps with their own)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
