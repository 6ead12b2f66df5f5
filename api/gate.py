"""What a request body must be before any handler reads it: the caller's credentials first, then
a size that fits the endpoint, then text PostgreSQL can store.

An ASGI middleware, so that a 30 MB body without credentials is refused from its headers,
before a byte of it is read or parsed on the event loop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import allowed_methods, error_response

SESSION_COOKIE = "mallcast_session"  # the console's (api.auth reads it)

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KIB = 1024
MIB = 1024 * KIB
_NUL_ESCAPE = b"\\u0000"  # JSON can carry NUL only escaped; raw control bytes are invalid


@dataclass(frozen=True)
class BodyPolicy:
    limit_bytes: int
    credentials: str | None  # the Authorization scheme the endpoint takes; None: anyone
    text_checked: bool = True  # refuse a NUL in any string (it would reach PostgreSQL)


def body_policies(max_body_bytes: int) -> Callable[[str, str], BodyPolicy]:
    """The policy of each endpoint with a body, by method and path. A full batch of 500 pings
    is ~50 KB; a floor plan may be megabytes, but only operators send one."""
    geometry = BodyPolicy(min(8 * MIB, max_body_bytes), "bearer")  # one footprint or zone
    rules: list[tuple[str, re.Pattern[str], BodyPolicy]] = [
        ("POST", re.compile(r"/v1/pings$"), BodyPolicy(512 * KIB, "bearer")),
        # OwnTracks answers 2xx to what it cannot use (see api.routers.owntracks).
        ("POST", re.compile(r"/owntracks$"), BodyPolicy(256 * KIB, "basic", text_checked=False)),
        ("POST", re.compile(r"/v1/devices$"), BodyPolicy(64 * KIB, None)),
        ("*", re.compile(r"/v1/devices/"), BodyPolicy(64 * KIB, "bearer")),
        ("*", re.compile(r"/v1/offers/"), BodyPolicy(4 * KIB, "bearer")),
        ("POST", re.compile(r"/v1/malls/\d+/zones/import$"), BodyPolicy(max_body_bytes, "bearer")),
        # A batch of up to 1,000 receipts with their lines.
        ("POST", re.compile(r"/purchases$"), BodyPolicy(4 * MIB, "bearer")),
        ("*", re.compile(r"/v1/malls(/\d+(/zones(/\d+)?)?)?$"), geometry),
        # The console's own forms: sign-in, a password (its API calls go to /v1 as above).
        ("POST", re.compile(r"/console/"), BodyPolicy(16 * KIB, None, text_checked=False)),
    ]
    fallback = BodyPolicy(min(1 * MIB, max_body_bytes), "bearer")

    def policy(method: str, path: str) -> BodyPolicy:
        for rule_method, pattern, rule in rules:
            if rule_method in ("*", method) and pattern.match(path):
                return rule
        return fallback

    return policy


class BodyRefused(StarletteHTTPException):
    """Raised from inside `receive`: FastAPI lets HTTPException through from body reading."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(status, detail=message)
        self.code = code
        self.details = details


class RequestGate:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.policy = body_policies(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            # A GET without its body (RFC 9110): what uptime checks, proxies and `curl -I` send,
            # answered for every path that answers GET (405 lists HEAD for those).
            await self.app({**scope, "method": "GET"}, receive, _headers_only(send))
            return
        if scope["method"] not in _WITH_BODY or not (_routed(scope) or _console(scope)):
            # GET, TRACE, an unknown path or method: no handler reads the body (404, 405).
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        has_body = (declared is not None and declared != b"0") or b"transfer-encoding" in headers
        if not has_body:
            await self.app(scope, receive, send)
            return
        policy = self.policy(scope["method"], scope["path"])
        refusal = _credentials_refusal(
            policy, headers.get(b"authorization", b""), _has_session(headers.get(b"cookie", b""))
        )
        too_large = (
            declared is not None and declared.isdigit() and int(declared) > policy.limit_bytes
        )
        if refusal is None and too_large:
            refusal = _too_large(policy)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _checked_receive(receive, policy), send)


def _headers_only(send: Send) -> Send:
    async def headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return headers_only


def _console(scope: Scope) -> bool:
    path: str = scope["path"]
    return path.startswith("/console/")


def _routed(scope: Scope) -> bool:
    """Whether the API takes this method on this path."""
    return scope["method"] in allowed_methods(scope["app"], scope["path"])


def _has_session(cookie: bytes) -> bool:
    """A console session cookie stands for bearer credentials (the handler checks it)."""
    return any(
        part.strip().startswith(SESSION_COOKIE.encode() + b"=") for part in cookie.split(b";")
    )


def _credentials_refusal(policy: BodyPolicy, header: bytes, session: bool) -> Any:
    if policy.credentials is None or (policy.credentials == "bearer" and session and not header):
        return None
    scheme, _, credentials = header.decode("latin-1").partition(" ")
    if scheme.lower() == policy.credentials and credentials.strip():
        return None
    how = (
        "HTTP Basic: user = device id, password = device token"
        if policy.credentials == "basic"
        else "`Authorization: Bearer <key or device token>`"
    )
    return error_response(
        401,
        "missing_credentials",
        f"send your credentials first ({how}); the body was not read",
        auth_scheme=policy.credentials.capitalize(),
    )


def _too_large(policy: BodyPolicy) -> Any:
    return error_response(
        413,
        "payload_too_large",
        f"the request body exceeds {policy.limit_bytes} bytes, this endpoint's limit",
        {"limit_bytes": policy.limit_bytes},
    )


def _checked_receive(receive: Receive, policy: BodyPolicy) -> Receive:
    chunks: list[bytes] = []
    received = 0
    nul_seen = False

    async def checked() -> Message:
        nonlocal received, nul_seen
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > policy.limit_bytes:
            raise BodyRefused(
                413,
                "payload_too_large",
                f"the request body exceeds {policy.limit_bytes} bytes, this endpoint's limit",
                {"limit_bytes": policy.limit_bytes},
            )
        if policy.text_checked:
            # The escape may straddle two chunks: look at the tail of the previous one too.
            tail = chunks[-1][-len(_NUL_ESCAPE) :] if chunks else b""
            nul_seen = nul_seen or _NUL_ESCAPE in tail + chunk
            chunks.append(chunk)
            if nul_seen and not message.get("more_body", False):
                _refuse_nul(b"".join(chunks))
        return message

    return checked


def _refuse_nul(body: bytes) -> None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: the handler says so
    path = _nul_path(document, "body")
    if path is not None:
        raise BodyRefused(
            422,
            "nul_character",
            f"{path}: text may not hold a NUL character (\\u0000)",
            {"field": path},
        )


def _nul_path(value: Any, path: str) -> str | None:
    """The JSON path of the first string (or key) holding a NUL, depth first."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if "\x00" in key:
                    return f"{where}.{key!r}"
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{i}") for i, child in reversed(list(enumerate(item))))
    return None
