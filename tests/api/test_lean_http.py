"""The load generator's HTTP client against a real uvicorn server: keep-alive, bodies both
ways, chunked answers, and a server that closes connections."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from bench.common import free_port
from demo.http import LeanClient

Scope = dict[str, Any]


async def echo_app(scope: Scope, receive: Any, send: Any) -> None:
    """POST /echo answers the JSON it got; /chunked streams; /close asks to close."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    headers = [(b"content-type", b"application/json")]
    if path == "/close":
        headers.append((b"connection", b"close"))
    answer = {"path": path, "method": scope["method"], "got": json.loads(body) if body else None,
              "auth": dict(scope["headers"]).get(b"authorization", b"").decode(),
              "client_port": scope["client"][1]}  # fmt: skip
    payload = json.dumps(answer).encode()
    status = 404 if path == "/missing" else 200
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if path == "/chunked":  # no Content-Length: uvicorn sends it chunked
        for i in range(0, len(payload), 7):
            await send({"type": "http.response.body", "body": payload[i : i + 7],
                        "more_body": True})  # fmt: skip
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(echo_app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_bodies_headers_and_status_come_through(base: str) -> None:
    async def go() -> list[Any]:
        async with LeanClient(base, connections=2) as client:
            sent = await client.post("/echo", {"pings": [{"lon": 120.1}]}, {"Authorization": "B x"})
            missing = await client.get("/missing")
            return [sent.status, sent.json(), missing.status]

    status, body, missing = run(go())
    assert status == 200
    assert body["method"] == "POST"
    assert body["got"] == {"pings": [{"lon": 120.1}]}
    assert body["auth"] == "B x"
    assert missing == 404


def test_connections_are_kept_alive_and_bounded(base: str) -> None:
    async def go() -> set[int]:
        async with LeanClient(base, connections=3) as client:
            answers = await asyncio.gather(*(client.get("/echo") for _ in range(60)))
            return {a.json()["client_port"] for a in answers}

    ports = run(go())
    assert 1 <= len(ports) <= 3  # 60 requests over at most 3 connections


def test_chunked_answers_and_closed_connections(base: str) -> None:
    async def go() -> tuple[list[str], set[int]]:
        async with LeanClient(base, connections=1) as client:
            chunked = [(await client.get("/chunked")).json()["path"] for _ in range(3)]
            closed = [(await client.get("/close")).json()["client_port"] for _ in range(3)]
            return chunked, set(closed)

    chunked, ports = run(go())
    assert chunked == ["/chunked"] * 3
    assert len(ports) == 3  # the server closed each one: a new connection every time


def test_only_plain_http() -> None:
    with pytest.raises(ValueError, match="plain http"):
        LeanClient("https://example.org")
