"""The one place where errors become HTTP answers: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import MallcastError

log = logging.getLogger("mallcast.api")

# What a 503 asks clients to wait: long enough for a database failover to begin.
RETRY_AFTER_S = 5

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    auth_scheme: str = "Bearer",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = f'{auth_scheme} realm="mallcast"'
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _page(request: Request, status: int, message: str) -> Response | None:
    """A console page (not its files, not its script's calls, which ask for JSON) answers an
    error as a page."""
    render = getattr(request.app.state, "page_error", None)
    path = request.url.path
    if render is None or not path.startswith("/console/") or path.startswith("/console/static/"):
        return None
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return None
    response: Response = render(request, status, message)
    return response


async def _mallcast_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MallcastError)
    page = _page(request, exc.status, exc.message)
    if page is not None:
        return page
    # OwnTracks speaks HTTP Basic; everything else takes bearer tokens.
    scheme = "Basic" if request.url.path.startswith("/owntracks") else "Bearer"
    retry = {"Retry-After": str(RETRY_AFTER_S)} if exc.status == 503 else None
    return error_response(
        exc.status, exc.code, exc.message, exc.details, auth_scheme=scheme, headers=retry
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        error = errors[0]
        position = (error.get("ctx") or {}).get("error", "")
        return error_response(
            400, "malformed_json", f"the request body is not valid JSON: {position}".rstrip(": ")
        )
    fields = [
        {
            "field": ".".join(str(part) for part in error["loc"]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in errors
    ]
    first = fields[0]
    return error_response(
        422,
        "validation_error",
        f"{first['field']}: {first['message']}"
        + (f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""),
        {"fields": fields},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code: str = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        page = _page(request, 404, "there is no such page")
        if page is not None:
            return page
        message = f"no such endpoint: {request.method} {request.url.path}"
    # 405 carries Allow, 401 WWW-Authenticate: the exception's headers are part of the answer.
    details: dict[str, Any] = getattr(exc, "details", None) or {}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(exc.status_code, code, message, details, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    return sorted(allowed_methods(request.app, request.scope["path"]))


# Every path parameter of the API is a number (ids, level ordinals): `/zones/import` is not a
# zone, just as the routes' own int convertors say.
_PARAMETER = "-?[0-9]+"


def allowed_methods(app: Any, path: str) -> set[str]:
    """Every method the API takes on `path` (empty: no such path), read off the OpenAPI
    document: the router names only those of the first route that matched, and FastAPI has a
    route per method."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "route_table", None)
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", _PARAMETER, re.escape(template)) + "$"),
                {method.upper() for method in operations},
            )
            for template, operations in app.openapi()["paths"].items()
        ]
        app.state.route_table = table
    # Per path: the gate asks on every request with a body, /v1/pings above all.
    known: dict[str, frozenset[str]] | None = getattr(app.state, "allowed_by_path", None)
    if known is None:
        known = app.state.allowed_by_path = {}
    found = known.get(path)
    if found is None:
        methods: set[str] = set()
        for pattern, verbs in table:
            if pattern.match(path):
                methods |= verbs
        if "GET" in methods:
            methods.add("HEAD")
        if len(known) >= 4096:  # paths carry ids: bounded, not a leak
            known.clear()
        found = known[path] = frozenset(methods)
    return set(found)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Only an unreachable database is a 503: a value it cannot store is the client's mistake
    (a 503 would have clients retry it and monitoring page someone), and two requests that
    changed the same rows at once are a conflict to retry, not an outage."""
    # SQLSTATE class 40, transaction rollback: a serialization failure, a deadlock.
    if isinstance(exc, DBAPIError) and str(getattr(exc.orig, "sqlstate", "")).startswith("40"):
        return _concurrent_change(request, exc)
    if isinstance(exc, DataError):
        return error_response(422, "unstorable_value", _unstorable(exc))
    if isinstance(exc, IntegrityError):
        return error_response(409, "conflict", "this conflicts with what is stored; read it again")
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        # The details stay in our log only: they may name hosts and users.
        log.error(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__,
        )
        return error_response(
            503,
            "database_unavailable",
            "the database is unavailable; retry later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return await _unexpected(request, exc)


async def _stale_data(request: Request, exc: Exception) -> JSONResponse:
    return _concurrent_change(request, exc)


def _concurrent_change(request: Request, exc: Exception) -> JSONResponse:
    # Writes lock what they change first (core.db.lock_row), so this is a path that does not
    # yet: logged, to be found, but the client only has to retry.
    log.warning(
        "concurrent change on %s %s: %s",
        request.method,
        request.url.path,
        type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__,
    )
    return error_response(
        409,
        "concurrent_change",
        "another request changed the same data at the same moment; read it again and retry",
    )


def _unstorable(exc: DataError) -> str:
    """What was wrong with the value, in the database's words but without the value itself."""
    reason = str(exc.orig).splitlines()[0] if exc.orig is not None else ""
    if "NUL" in reason or "0x00" in reason:
        return "a text holds a NUL character (\\u0000), which cannot be stored"
    if "out of range" in reason:
        return "a number is out of the range that can be stored"
    return "a value cannot be stored: " + type(exc.orig).__name__


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "unexpected error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MallcastError, _mallcast_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(Exception, _unexpected)
