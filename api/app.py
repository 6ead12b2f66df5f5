"""The FastAPI application factory."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import __version__
from api.deps import SessionDep, UnitOfWorkRoute
from api.errors import allowed_methods, install_error_handlers
from api.gate import RequestGate
from api.ingest_gate import IngestGate
from api.metrics import CONTENT_TYPE, Metrics
from api.routers import (
    lifecycle,
    malls,
    owntracks,
    promotions,
    purchases,
    shoppers,
    tenant_portal,
    tenants,
    zone_events,
    zones,
)
from api.schemas import DatabaseHealth, HealthOut, error_responses
from core.db import Database
from core.errors import Unavailable
from core.settings import Settings
from geofence.cache import ZoneIndexCache
from promotions.decisions import PromotionEngine

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"

DESCRIPTION = """\
Location-aware mall engagement: geofencing of shopper location pings, personalised promotions,
push notifications through Firebase Cloud Messaging.

Operators and tenants authenticate with `Authorization: Bearer <API key>`
(`mallcast keys create`). Every error answers `{"error": {"code", "message", "details"}}`.
"""


def create_app(
    settings: Settings,
    db: Database,
    *,
    warm: bool = False,
    owns_database: bool = False,
    clock: Callable[[], float] | None = time.time,
) -> FastAPI:
    """warm: build every mall's zone index before serving (what `mallcast serve` wants; tests
    leave it to the first request). owns_database: dispose of it when the app stops. clock: when
    promotions are decided (the demo's is simulated; None: at each event's own instant, for
    tests that walk at a past evening whatever the hour now)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints run on anyio's thread pool: no more at once than there are pooled
        # connections for them (see api.db).
        anyio.to_thread.current_default_thread_limiter().total_tokens = db.pool_size
        if warm:
            with db.sessions() as session:
                app.state.zone_cache.warm(session)
            allowed_methods(app, "/")  # the request gate's route table, from the OpenAPI document
        yield
        if owns_database:
            db.dispose()

    # FastAPI's own OpenTelemetry checks the global providers on every request, configured or
    # not (about 5% of a ping request): only when asked for.
    otel = settings.otel
    app = FastAPI(
        title="mallcast",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry={"tracing": otel, "metrics": otel, "logs": otel},
        docs_url=None,
        redoc_url=None,  # served below, from files of our own
    )
    app.router.route_class = UnitOfWorkRoute  # /health: a sync handler with a session too
    app.state.settings = settings
    app.state.database = db
    app.state.zone_cache = ZoneIndexCache(
        refresh_s=settings.zone_refresh_s, mall_radius_m=settings.mall_radius_m
    )
    app.state.metrics = Metrics(db.engine)
    app.state.event_sink = PromotionEngine(
        push_ttl=timedelta(seconds=settings.push_ttl_s),
        now=None if clock is None else lambda: datetime.fromtimestamp(clock(), UTC),
    )
    app.state.ingest_gate = IngestGate(
        db,
        app.state.zone_cache,
        app.state.event_sink,
        settings,
        app.state.metrics,
        lanes=settings.ingest_lanes,
    )
    install_error_handlers(app)
    app.add_middleware(RequestGate, max_body_bytes=settings.max_body_bytes)

    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        summary="Liveness and database readiness",
        response_model=HealthOut,
        responses={503: error_responses(422)[422] | {"description": "The database is down"}},
        tags=["operations"],
    )
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        summary="Prometheus metrics",
        tags=["operations"],
        response_class=PlainTextResponse,
    )
    # Routes are matched in order: the shopper apps' (pings above all) are the hot path.
    for module in (
        shoppers,
        owntracks,
        malls,
        zones,
        zone_events,
        tenants,
        promotions,
        tenant_portal,
        purchases,
        lifecycle,
    ):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    _serve_docs(app)
    return app


def _serve_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc with their JavaScript and CSS served from the
    installed package (FastAPI's self-hosting recipe): the default pages load them from a CDN,
    which a mall's back office without internet never reaches (a blank page)."""
    assets = "/docs/assets"
    app.mount(assets, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="mallcast API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to an online validator
        )

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="mallcast API",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the answers every route can give whatever it declares: the
    request gate's 401 and 413 and the body parser's 400 and 422 (api.gate, api.errors)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        error = {"$ref": "#/components/schemas/ErrorOut"}
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                answers = operation.setdefault("responses", {})
                wanted = [401] if operation.get("security") else []
                if "requestBody" in operation:
                    # OwnTracks answers 2xx to any body it cannot use (api.routers.owntracks).
                    wanted += [413] if path == "/owntracks" else [400, 413, 422]
                for status in wanted:
                    answers.setdefault(
                        str(status),
                        {
                            "description": error_responses(status)[status]["description"],
                            "content": {"application/json": {"schema": error}},
                        },
                    )
        _json_schema_bounds(schema)
        app.openapi_schema = schema
    return app.openapi_schema


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _json_schema_bounds(node: Any) -> None:
    """Pydantic writes a bound on a validated type inside an optional (`JsonInt | None` with
    `ge=1`) under its own name, `ge`, which JSON Schema does not know; the server enforces it
    all the same, so the document says it in JSON Schema's words."""
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            for ours, theirs in _BOUNDS.items():
                if ours in node:
                    node[theirs] = node.pop(ours)
        for child in node.values():
            _json_schema_bounds(child)
    elif isinstance(node, list):
        for child in node:
            _json_schema_bounds(child)


def metrics(request: Request) -> PlainTextResponse:
    registry: Metrics = request.app.state.metrics
    return PlainTextResponse(registry.render(), media_type=CONTENT_TYPE)


def health(request: Request, session: SessionDep) -> HealthOut:
    try:
        row = session.execute(
            text("SELECT current_setting('server_version'), postgis_lib_version()")
        ).one()
    except DBAPIError as exc:
        raise Unavailable("the database does not answer", code="database_unavailable") from exc
    return HealthOut(
        status="ok",
        version=__version__,
        database=DatabaseHealth(postgresql=row[0], postgis=row[1]),
    )
