"""A local stand-in for Firebase Cloud Messaging, for the demo, the tests and the benchmarks.

It speaks what firebase-admin speaks: the OAuth 2.0 token exchange of a service account
(POST /token with a signed JWT assertion) and the FCM HTTP v1 send API
(POST /v1/projects/{project}/messages:send). It keeps what it received and injects faults on
request: an HTTP status with FCM's error body (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED,
UNAVAILABLE, INTERNAL...), a Retry-After, added latency, for chosen tokens and a number of times.
A bare ASGI app served by uvicorn (uvloop, httptools, keep-alive), so that it is not what a
benchmark measures.
It listens on loopback only and checks nothing about the JWT but its shape: it is not security.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class Fault:
    """What to answer instead of success, `times` times (None: until cleared)."""

    status: int
    error_code: str | None = None  # FcmError errorCode: UNREGISTERED, QUOTA_EXCEEDED, ...
    retry_after_s: float | None = None
    latency_s: float = 0.0
    times: int | None = 1
    token: str | None = None  # only for this address (token or fid); None: every message
    message: str = "injected fault"
    field_violation: str | None = None  # e.g. "message.token" for a malformed token
    every: int = 1  # only every n-th message it could apply to (10: one in ten)
    _seen: int = 0


@dataclass
class Received:
    at: float  # answered
    project: str
    message: dict[str, Any]
    status: int
    name: str | None
    arrived: float = 0.0  # the request reached the server (before any injected latency)

    @property
    def address(self) -> str | None:
        return self.message.get("token") or self.message.get("fid")


@dataclass
class FakeFCMState:
    received: list[Received] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    latency_s: float = 0.0
    tokens_issued: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # messages being answered at once, at most: what a sender's window is
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def next_fault(self, address: str | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.token is not None and fault.token != address:
                    continue
                fault._seen += 1
                if (fault._seen - 1) % fault.every:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 200]


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")


def create_app(state: FakeFCMState) -> App:
    """A bare ASGI app: no framework between uvicorn and the two routes, because what the push
    benchmark should measure is our dispatcher and firebase-admin, not this stand-in."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        match = _SEND_PATH.match(path)
        if path != "/token" and match is None:
            await _answer(send, 404, {"error": "not found"})
        elif method != "POST":
            await _answer(send, 405, {"error": "method not allowed"})
        elif match is None:
            await _answer(send, *token(await _body(receive)))
        else:
            headers = dict(scope["headers"])
            await _answer(send, *await deliver(match.group(1), headers, await _body(receive)))

    def token(body: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or (
            form.get("assertion", "").count(".") != 2
        ):
            return 400, {"error": "invalid_grant"}
        with state.lock:
            state.tokens_issued += 1
        return 200, {
            "access_token": "local-" + secrets.token_hex(8),
            "expires_in": 3600,
            "token_type": "Bearer",
        }

    async def deliver(
        project: str, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not headers.get(b"authorization", b"").startswith(b"Bearer local-"):
            return _error(401, "UNAUTHENTICATED", "missing or unknown access token")
        try:
            parsed = json.loads(body)
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "the body is not JSON")
        message = parsed.get("message") if isinstance(parsed, dict) else None
        if not isinstance(message, dict) or not (message.get("token") or message.get("fid")):
            return _error(400, "INVALID_ARGUMENT", "message needs a token or fid")
        address = message.get("token") or message.get("fid")
        arrived = time.time()
        fault = state.next_fault(address)
        delay = state.latency_s + (fault.latency_s if fault else 0.0)
        if delay:
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                await asyncio.sleep(delay)
            finally:
                with state.lock:
                    state.in_flight -= 1
        now = time.time()
        if fault is not None and fault.status != 200:
            with state.lock:
                state.received.append(Received(now, project, message, fault.status, None, arrived))
            headers_out = {"Retry-After": f"{fault.retry_after_s:g}"} if fault.retry_after_s else {}
            status, error, _ = _error(
                fault.status, fault.error_code, fault.message, fault.field_violation
            )
            return status, error, headers_out
        with state.lock:
            name = f"projects/{project}/messages/{next(state._ids)}"
            state.received.append(Received(now, project, message, 200, name, arrived))
        return 200, {"name": name}, {}

    return app


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _error(
    status: int,
    error_code: str | None,
    message: str,
    field_violation: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """FCM's error body: google.rpc.Status with FcmError and BadRequest details."""
    details: list[dict[str, Any]] = []
    if error_code:
        details.append(
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        )
    if field_violation:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field_violation, "description": message}],
            }
        )
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
            "details": details,
        }
    }
    return status, body, {}


class _OwnLifecycleQuiet(logging.Filter):
    """uvicorn logs every server's start and stop on one logger: in a process that also serves
    the API, this server's "Shutting down" and "Finished server process" read as the API's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or record.threadName != _THREAD


_THREAD = "fake-fcm"
logging.getLogger("uvicorn.error").addFilter(_OwnLifecycleQuiet())


class FakeFCM:
    """The server in a background thread of this process: `with FakeFCM() as fcm: fcm.url`."""

    def __init__(self, port: int = 0) -> None:
        self.state = FakeFCMState()
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(self.state),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=_THREAD, daemon=True)

    def start(self) -> FakeFCM:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local FCM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> FakeFCM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, fault: Fault) -> None:
        with self.state.lock:
            self.state.faults.append(fault)

    def clear(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.received.clear()
            self.state.max_in_flight = 0

    @property
    def received(self) -> list[Received]:
        with self.state.lock:
            return list(self.state.received)

    def accepted(self) -> list[Received]:
        return self.state.accepted()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(port: int = 0) -> Iterator[FakeFCM]:
    with FakeFCM(port) as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description="Local FCM-compatible server (loopback only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="answer every message this much later (as FCM over the internet)",
    )
    args = parser.parse_args()
    state = FakeFCMState(latency_s=args.latency_ms / 1000)
    uvicorn.run(
        create_app(state), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
