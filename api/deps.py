"""The request's unit of work and the per-process services the app holds, as typed
dependencies.

The services only read app.state: `async def`, so FastAPI calls them on the event loop instead
of sending each one to the thread pool (a thread hop apiece, per request, measured: a third of
a single-ping request was dependency solving).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, get_args, get_origin

import anyio
import anyio.to_thread
from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from api.ingest_gate import IngestGate
from api.metrics import Metrics
from core.db import Database
from core.errors import InvalidInput
from core.settings import Settings
from geofence.cache import ZoneIndexCache, zones_changed


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session, one transaction per request: committed when the handler returns, rolled
    back when it raises. Handlers and services only flush. After a commit that changed zones,
    this process's zone index is dropped (other replicas notice the version within
    `zone_refresh_s`).

    Async, so that opening the session (no I/O: it connects on first use) and closing an
    untouched one cost no thread hop. The commit or rollback runs on threads of its own
    (`app.state.finishing`, one per connection the pool can lend): a session waiting to finish
    holds a connection, and behind request threads (capped at the pool size) that wait for a
    connection it would wait for ever."""
    database: Database = request.app.state.database
    finishing: anyio.CapacityLimiter | None = getattr(request.app.state, "finishing", None)
    if finishing is None:  # made on the event loop, once per app (no await in between)
        finishing = request.app.state.finishing = anyio.CapacityLimiter(database.max_connections)
    session = database.sessions()
    try:
        yield session
        if session.in_transaction():
            await anyio.to_thread.run_sync(session.commit, limiter=finishing)
        if zones_changed(session):
            cache: ZoneIndexCache = request.app.state.zone_cache
            cache.invalidate()
    finally:
        if session.in_transaction():
            await anyio.to_thread.run_sync(session.close, limiter=finishing)
        else:
            session.close()


def end_reads(session: Session) -> None:
    """Give the connection back between thread hops: end the request's transaction while it
    has only read (the authentication dependencies call this). A session holding a connection
    while it waits for a request thread (capped at the pool size) could wait behind requests
    holding those threads and waiting for a connection. Objects read stay usable
    (expire_on_commit=False); a write later begins a transaction of its own."""
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()


class UnitOfWorkRoute(APIRoute):
    """Routes whose sync handler commits its session on the handler's own thread.

    FastAPI validates a sync handler's answer on another request thread, before the session
    dependency's exit: a session still holding its connection would wait there for a thread,
    while the threads (capped at the pool size) wait for connections. Committing on the
    handler's thread gives the connection back first; the dependency then only closes."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if not self.path.startswith("/v1/"):
            return handle  # pages, and OwnTracks' URL as its users type it, take what they get
        known = _query_names(self.dependant)
        single = known - _query_names(self.dependant, lists=True)

        async def checked(request: Request) -> Response:
            # A misspelt filter (`tenant` for `tenant_id`) would answer about everything.
            if request.scope["query_string"]:
                unknown = sorted(set(request.query_params) - known)
                if unknown:
                    takes = ", ".join(sorted(known)) or "none"
                    raise InvalidInput(
                        f"unknown query parameter {unknown[0]!r}; this endpoint takes: {takes}",
                        code="unknown_parameter",
                        details={"field": f"query.{unknown[0]}", "known": sorted(known)},
                    )
                # `?level=0&level=1` would answer about one of them, silently.
                twice = sorted(n for n in single if len(request.query_params.getlist(n)) > 1)
                if twice:
                    raise InvalidInput(
                        f"query parameter {twice[0]!r} is given more than once; it takes one value",
                        code="repeated_parameter",
                        details={"field": f"query.{twice[0]}"},
                    )
            return await handle(request)

        return checked


def _query_names(dependant: Dependant, *, lists: bool = False) -> frozenset[str]:
    """The query parameters the route reads; `lists`: only those that take several values."""
    names = {
        field.alias
        for field in dependant.query_params
        if not lists or _takes_several(field.field_info.annotation)
    }
    for sub in dependant.dependencies:
        names |= _query_names(sub, lists=lists)
    return frozenset(names)


def _takes_several(annotation: Any) -> bool:
    return any(
        get_origin(a) in (list, tuple, set, frozenset) or a in (list, tuple, set)
        for a in (annotation, *get_args(annotation))
    )


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads the handler's signature through __wrapped__
    def handle(*args: Any, **kwargs: Any) -> Any:
        answer = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.in_transaction():
                value.commit()
        return answer

    return handle


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
