"""A lean HTTP/1.1 client for load generation: keep-alive connections, one request in flight
on each, responses parsed by httptools (which uvicorn already brings).

Why not httpx: its async client spends about a millisecond of CPU per request (connection-pool
bookkeeping, auth and cookie hooks, anyio), measured on the 2-core machine the benchmarks run
on, where the load generator shares the CPU with the server it measures. This client spends
tens of microseconds. It speaks only what the load generator needs: plain HTTP on loopback or a
LAN, JSON bodies, Content-Length or chunked answers.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.chunks: list[bytes] = []
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unreadable answer: {exc}"))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        answer = Answer(self.parser.get_status_code(), b"".join(self.chunks))
        self.chunks = []
        self.reusable = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(ConnectionError("the server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def send(self, raw: bytes) -> Answer:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class LeanClient:
    """`async with LeanClient(url, connections=16) as client: await client.post(...)`."""

    def __init__(self, base_url: str, *, connections: int = 16, timeout_s: float = 120) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"the load generator speaks plain http:// only, not {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.authority = parts.netloc.encode()
        self.timeout_s = timeout_s
        self._idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(None)  # opened when first needed
        self._open: list[_Connection] = []

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connection in self._open:
            connection.close()

    def encode(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> bytes:
        """A whole request, ready to send (encode once, send many times)."""
        lines = [f"{method} {self.prefix}{path} HTTP/1.1".encode(), b"Host: " + self.authority]
        lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
        payload = b""
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            lines += [b"Content-Type: application/json", b"Content-Length: %d" % len(payload)]
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload

    async def send(self, raw: bytes) -> Answer:
        connection = await self._idle.get()
        try:
            if connection is None or not connection.reusable:
                connection = await self._connect()
            answer = await asyncio.wait_for(connection.send(raw), self.timeout_s)
        except BaseException:
            if connection is not None:
                connection.close()
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(connection)
        return answer

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Answer:
        return await self.send(self.encode("POST", path, body, headers))

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return await self.send(self.encode("GET", path, None, headers))

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self.host, self.port)
        self._open = [c for c in self._open if c.reusable]  # forget the closed ones
        self._open.append(connection)
        return connection
