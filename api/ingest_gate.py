"""Ping requests that arrive together are ingested together: one transaction for the group.

A single-ping request costs little Python but several database round trips (lock, insert,
upsert, commit, the pool's liveness ping) and a thread hop; under load most of its time was
that. Here each request joins the group that is forming; a group runs, in a worker thread, as
soon as a lane is free (`MALLCAST_INGEST_LANES` per process, default 1: measured best), so an
idle server answers one request at once and a busy one ingests dozens per transaction (natural
batching: no timer, no added latency).

Each request still gets its own answer: a refused request (revoked token, no consent, a bad
batch) gets its error and the others go on. Should the group's transaction fail as a whole (a
deadlock, the database restarting), every request is retried alone, so one cannot sink the
others. A device appears at most once per group; its next request waits for the next group.
Nothing is answered before its group has committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field

from anyio import to_thread

from api.metrics import Metrics
from api.rules import ingest_limits, presence_rules
from core.db import Database
from core.errors import MallcastError
from core.events import EventSink
from core.settings import Settings
from geofence.cache import ZoneIndexCache
from geofence.ingest import IngestRequest, IngestResult, ingest_group

log = logging.getLogger("mallcast.ingest")

MAX_REQUESTS = 64  # per group
MAX_PINGS = 2_000  # per group: bounds one transaction's size and its latency


@dataclass
class _Group:
    requests: list[IngestRequest] = field(default_factory=list)
    waiters: list[asyncio.Future[IngestResult | MallcastError]] = field(default_factory=list)
    pings: int = 0
    open: bool = True

    def admits(self, request: IngestRequest) -> bool:
        return (
            self.open
            and len(self.requests) < MAX_REQUESTS
            and self.pings + len(request.raw) <= MAX_PINGS
            and all(r.device_id != request.device_id for r in self.requests)
        )


@dataclass
class _LoopState:
    """Groups and lanes belong to one event loop (tests run a loop per request)."""

    lanes: asyncio.Semaphore
    forming: _Group | None = None


class IngestGate:
    def __init__(
        self,
        database: Database,
        cache: ZoneIndexCache,
        sink: EventSink,
        settings: Settings,
        metrics: Metrics,
        *,
        lanes: int = 1,
    ) -> None:
        self.database = database
        self.cache = cache
        self.sink = sink
        self.settings = settings
        # Built once: settings do not change while a process runs, and groups are the hot path.
        self.rules = presence_rules(settings)
        self.limits = ingest_limits(settings)
        self.metrics = metrics
        self.lanes = lanes
        self._running: set[asyncio.Task[None]] = set()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    async def ingest(self, request: IngestRequest) -> IngestResult:
        """The request's result once its group has committed; raises its refusal."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState(asyncio.Semaphore(self.lanes))
        group = state.forming
        if group is None or not group.admits(request):
            group = state.forming = _Group()
            # The group runs in a task of its own: a request that goes away (the client hung
            # up) must not take the others' transaction with it.
            task = loop.create_task(self._lead(group, state))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        waiter = self._join(group, request, loop)
        try:
            outcome = await asyncio.shield(waiter)
        except asyncio.CancelledError:
            # Its client went away; the group still ingests the request (a retry will find its
            # pings already stored). Nobody reads the outcome: say so, or asyncio complains.
            waiter.add_done_callback(_discard)
            raise
        if isinstance(outcome, MallcastError):
            raise outcome
        return outcome

    async def _lead(self, group: _Group, state: _LoopState) -> None:
        async with state.lanes:  # meanwhile, requests arriving join this group
            group.open = False
            if state.forming is group:
                state.forming = None
            await self._run(group)

    @staticmethod
    def _join(
        group: _Group, request: IngestRequest, loop: asyncio.AbstractEventLoop
    ) -> asyncio.Future[IngestResult | MallcastError]:
        waiter: asyncio.Future[IngestResult | MallcastError] = loop.create_future()
        group.requests.append(request)
        group.waiters.append(waiter)
        group.pings += len(request.raw)
        return waiter

    async def _run(self, group: _Group) -> None:
        try:
            outcomes = await to_thread.run_sync(self._transaction, group.requests)
        except Exception as failed:  # the group as a whole: each request on its own
            if len(group.requests) == 1:
                group.waiters[0].set_exception(failed)
                return
            # The type only: a database error's text carries the statement's parameters, and
            # those are coordinates.
            log.warning(
                "an ingest group of %d requests failed (%s); retrying them one by one",
                len(group.requests),
                type(failed).__name__,
            )
            for request, waiter in zip(group.requests, group.waiters, strict=True):
                try:
                    (outcome,) = await to_thread.run_sync(self._transaction, [request])
                except Exception as alone:
                    waiter.set_exception(alone)
                else:
                    waiter.set_result(outcome)
            return
        self.metrics.ingest_groups.observe(len(group.requests))
        for waiter, outcome in zip(group.waiters, outcomes, strict=True):
            waiter.set_result(outcome)

    def _transaction(self, requests: list[IngestRequest]) -> list[IngestResult | MallcastError]:
        with self.database.sessions() as session:
            outcomes = ingest_group(
                session,
                self.cache,
                requests,
                now=time.time(),
                rules=self.rules,
                limits=self.limits,
                sink=self.sink,
            )
            session.commit()
        return outcomes


def _discard(waiter: asyncio.Future[IngestResult | MallcastError]) -> None:
    if not waiter.cancelled():
        waiter.exception()
