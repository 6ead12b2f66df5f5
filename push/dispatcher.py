"""The dispatcher: claims due deliveries of the outbox and sends them through the gateway.

Claiming is one statement (`FOR UPDATE SKIP LOCKED`): two dispatchers never hold the same
delivery. A claim is fenced: `(claimed_by, attempts)` names it, and an outcome is recorded only
where the row still carries that name, so a dispatcher that lost a claim can never overwrite
the outcome of the one that took it over. A live dispatcher extends the lease of every claim
it holds while the message waits or is in flight, and checks it still holds the claim right
before the message goes out: so only a dead (or frozen) dispatcher's claims are taken over,
and a push is sent twice only when a dispatcher died after FCM accepted it and before it
recorded that. The dispatcher never waits for a batch: it keeps a window of messages in flight
and claims more as answers come back.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, Row

from push.errors import Verdict
from push.gateway import FCM_BATCH_LIMIT, Push, Send
from push.outbox import RetryPolicy

log = logging.getLogger("mallcast.push")


@dataclass
class TickResult:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    dead_token: int = 0
    failed: int = 0
    expired: int = 0
    no_address: int = 0
    abandoned: int = 0  # claims lost before their message went out (not sent by us)
    sent_latency_s: list[float] = field(default_factory=list)  # enqueue -> accepted


_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM deliveries
        WHERE (state IN ('pending', 'retry') AND next_attempt_at <= :now)
           OR (state = 'sending' AND lease_until < :now)
        ORDER BY next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE deliveries d
    SET state = 'sending', lease_until = :lease_until, claimed_by = :worker,
        attempts = d.attempts + 1
    FROM due, devices v
    WHERE d.id = due.id AND v.id = d.device_id
    RETURNING d.id, d.device_id, d.title, d.body, d.data, d.collapse_key, d.image_url,
              d.created_at, d.expires_at, d.attempts, v.fcm_token, v.fcm_fid
    """
)

_EXTEND = text(
    "UPDATE deliveries d SET lease_until = :until FROM unnest(CAST(:ids AS bigint[]), "
    "CAST(:attempts AS int[])) AS u(id, attempts) WHERE d.id = u.id AND d.state = 'sending' "
    "AND d.claimed_by = :worker AND d.attempts = u.attempts RETURNING d.id"
)


class Sender(Protocol):
    """What the dispatcher sends through (push.gateway.FcmGateway)."""

    concurrency: int

    def submit(self, sends: Sequence[Send]) -> None: ...


@dataclass
class _Claim:
    """A delivery this dispatcher holds: (id, attempts) is its fencing token."""

    id: int
    attempts: int
    device_id: uuid.UUID
    created_at: datetime
    push: Push
    lease_until: datetime
    margin: timedelta  # for the database's clock and the time a request takes to leave
    lost: bool = False

    def still_ours(self) -> bool:
        return not self.lost and datetime.now(UTC) < self.lease_until - self.margin


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        *,
        batch: int = FCM_BATCH_LIMIT,
        lease_s: float = 60.0,
        policy: RetryPolicy | None = None,
        worker: str | None = None,
        on_tick: Callable[[TickResult], None] | None = None,
    ) -> None:
        self.engine = engine
        self.sender = sender
        # Claimed and not yet answered, at most: the sender's window plus a queue that keeps it
        # full between two claims (claiming in large chunks costs fewer transactions).
        self.capacity = max(1, min(batch, FCM_BATCH_LIMIT))
        self.lease_s = lease_s
        self.policy = policy or RetryPolicy()
        self.worker = worker or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self.on_tick = on_tick
        # How often a busy dispatcher records answers and claims more, unless enough answers
        # came back to fill a quarter of its capacity first: each pump is a transaction.
        self.busy_s = 0.03
        self._rng = random.Random()  # noqa: S311  # jitter, not secrets
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._claims: dict[int, _Claim] = {}  # in flight, by delivery id
        self._answers: queue.SimpleQueue[tuple[_Claim, Verdict | None, datetime]] = (
            queue.SimpleQueue()
        )
        self._failing = False  # the database did not answer the last pump (logged once)

    @property
    def in_flight(self) -> int:
        return len(self._claims)

    def pump(self, now: datetime | None = None, *, claim: bool = True) -> TickResult:
        """One step, never waiting for FCM: record the answers that came back, extend the
        leases of the claims still out, claim what the window has room for (unless `claim` is
        false) and hand it over."""
        now = now or datetime.now(UTC)
        result = TickResult()
        answers = []
        while not self._answers.empty():
            answers.append(self._answers.get_nowait())
        outcomes = self._judge(answers, result)
        with self.engine.begin() as conn:
            outcomes.record(conn, self.worker)
            self._extend(conn, now)
            room = self.capacity - len(self._claims) if claim else 0
            rows = conn.execute(_CLAIM, {
                "now": now, "limit": room, "worker": self.worker,
                "lease_until": now + timedelta(seconds=self.lease_s),
            }).all() if room > 0 else []  # fmt: skip
            result.claimed = len(rows)
            claims = self._claim(rows, now, result, conn)
        self.sender.submit([Send(c.push, self._answered(c), c.still_ours) for c in claims])
        self._count(result, outcomes)
        return result

    def tick(self, now: datetime | None = None, *, timeout_s: float = 120.0) -> TickResult:
        """Claim, send and record one window's worth, waiting for every answer (tests and
        benchmarks; `run` never waits like this)."""
        result = self.pump(now)
        deadline = time.monotonic() + timeout_s
        while self._claims and time.monotonic() < deadline:
            self._wake.wait(0.01)
            self._wake.clear()
            if not self._answers.empty() or self._lease_due():
                _add(result, self.pump(claim=False))
        return result

    def run(self, *, idle_s: float = 0.1) -> None:
        """Pump until stopped: at once when a quarter of the capacity has come back, else every
        `busy_s` (answers are recorded together), or `idle_s` when there is nothing to do."""
        while not self._stop.is_set():
            try:
                result = self.pump()
                if self._failing:
                    log.warning("dispatcher: the database answers again")
                    self._failing = False
            except Exception as exc:  # the database went away, say: one line, then retry
                if not self._failing:
                    log.error("dispatcher: cannot reach the database (%s); retrying every "
                              "second", type(exc).__name__)  # fmt: skip
                    self._failing = True
                self._stop.wait(1.0)
                continue
            busy = result.claimed or self._claims
            self._wake.wait(self.busy_s if busy else idle_s)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=self.worker, daemon=True)
        thread.start()
        return thread

    def _lease_due(self) -> bool:
        soon = datetime.now(UTC) + timedelta(seconds=self.lease_s / 2)
        return any(claim.lease_until < soon for claim in self._claims.values())

    def _answered(self, claim: _Claim) -> Callable[[Verdict | None, datetime], None]:
        def done(verdict: Verdict | None, at: datetime) -> None:
            self._answers.put((claim, verdict, at))
            if self._answers.qsize() >= max(1, self.capacity // 4):
                self._wake.set()  # room for more: claim without waiting for the timer

        return done

    def _claim(
        self, rows: Sequence[Row[Any]], now: datetime, result: TickResult, conn: Connection
    ) -> list[_Claim]:
        final = _Outcomes()
        claims = []
        lease_until = now + timedelta(seconds=self.lease_s)
        margin = timedelta(seconds=min(1.0, self.lease_s / 4))
        for row in rows:
            address, kind = (row.fcm_fid, "fid") if row.fcm_fid else (row.fcm_token, "token")
            fence = (row.id, row.attempts)
            if row.expires_at <= now:
                final.final["expired"].append((*fence, "the offer expired before it was sent"))
            elif not address:
                final.final["no_address"].append((*fence, "the device has no FCM address"))
            else:
                push = Push(address, kind, row.title, row.body, dict(row.data), row.collapse_key,
                            row.expires_at, row.image_url)  # fmt: skip
                claim = _Claim(row.id, row.attempts, row.device_id, row.created_at, push,
                               lease_until, margin)  # fmt: skip
                self._claims[row.id] = claim
                claims.append(claim)
        final.record(conn, self.worker)
        for state, items in final.final.items():
            setattr(result, state, getattr(result, state) + len(items))
        return claims

    def _judge(
        self, answers: list[tuple[_Claim, Verdict | None, datetime]], result: TickResult
    ) -> _Outcomes:
        outcomes = _Outcomes()
        for claim, verdict, at in answers:
            self._claims.pop(claim.id, None)
            fence = (claim.id, claim.attempts)
            if verdict is None:  # the claim was lost before the message went out
                result.abandoned += 1
            elif verdict.kind == "sent":
                outcomes.sent.append((*fence, verdict.message_name, claim.push.address, at))
                result.sent_latency_s.append((at - claim.created_at).total_seconds())
            elif verdict.kind == "retry" and claim.attempts < self.policy.max_attempts:
                # From FCM's answer, not from when the message was claimed: Retry-After counts
                # from the moment it was said.
                delay = self.policy.delay_s(claim.attempts, verdict, self._rng)
                outcomes.retry.append((*fence, at + timedelta(seconds=delay), verdict.error))
            elif verdict.kind == "retry":
                outcomes.final["failed"].append(
                    (*fence, f"gave up after {claim.attempts} attempts: {verdict.error}")
                )
            elif verdict.kind == "dead_token":
                outcomes.final["dead_token"].append((*fence, verdict.error))
                outcomes.dead_addresses.append((claim.device_id, claim.push.address))
            elif verdict.kind == "expired":
                outcomes.final["expired"].append((*fence, verdict.error))
            else:
                outcomes.final["failed"].append((*fence, verdict.error))
        return outcomes

    def _extend(self, conn: Connection, now: datetime) -> None:
        """Keep the leases of the claims still out a whole lease ahead; a claim whose row no
        longer carries our name was taken over: it is dropped before its message goes out."""
        soon = now + timedelta(seconds=self.lease_s / 2)
        due = [claim for claim in list(self._claims.values()) if claim.lease_until < soon]
        if not due:
            return
        until = now + timedelta(seconds=self.lease_s)
        kept = set(conn.execute(_EXTEND, {
            "until": until, "worker": self.worker, "ids": [c.id for c in due],
            "attempts": [c.attempts for c in due],
        }).scalars())  # fmt: skip
        for claim in due:
            if claim.id in kept:
                claim.lease_until = until
            else:
                claim.lost = True

    def _count(self, result: TickResult, outcomes: _Outcomes) -> None:
        result.sent += len(outcomes.sent)
        result.retry += len(outcomes.retry)
        for state, items in outcomes.final.items():
            setattr(result, state, getattr(result, state) + len(items))
        if self.on_tick is not None:
            self.on_tick(result)


def _add(total: TickResult, more: TickResult) -> None:
    for name in ("claimed", "sent", "retry", "dead_token", "failed", "expired", "no_address",
                 "abandoned"):  # fmt: skip
        setattr(total, name, getattr(total, name) + getattr(more, name))
    total.sent_latency_s.extend(more.sent_latency_s)


@dataclass
class _Outcomes:
    """Outcomes to record, each with its claim's fence (id, attempts)."""

    sent: list[tuple[int, int, str | None, str, datetime]] = field(default_factory=list)
    retry: list[tuple[int, int, datetime, str | None]] = field(default_factory=list)
    final: dict[str, list[tuple[int, int, str | None]]] = field(default_factory=lambda: {
        "dead_token": [], "failed": [], "expired": [], "no_address": []})  # fmt: skip
    dead_addresses: list[tuple[uuid.UUID, str]] = field(default_factory=list)

    def record(self, conn: Connection, worker: str) -> None:
        # Every statement is fenced: only rows that still carry this claim are written.
        if self.sent:
            conn.execute(text(
                "UPDATE deliveries d SET state = 'sent', sent_at = u.at, "
                "fcm_message_name = u.name, address = u.address, lease_until = NULL, "
                "last_error = NULL FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[]),"
                " CAST(:names AS text[]), CAST(:addresses AS text[]), "
                "CAST(:ats AS timestamptz[])) AS u(id, attempts, name, address, at) "
                "WHERE d.id = u.id AND d.claimed_by = :worker AND d.attempts = u.attempts"
            ), {"worker": worker, "ids": [s[0] for s in self.sent],
                "attempts": [s[1] for s in self.sent], "names": [s[2] for s in self.sent],
                "addresses": [s[3] for s in self.sent],
                "ats": [s[4] for s in self.sent]})  # fmt: skip
        if self.retry:
            conn.execute(text(
                "UPDATE deliveries d SET state = 'retry', next_attempt_at = u.at, "
                "last_error = u.err, lease_until = NULL FROM unnest(CAST(:ids AS bigint[]), "
                "CAST(:attempts AS int[]), CAST(:when AS timestamptz[]), "
                "CAST(:errors AS text[])) AS u(id, attempts, at, err) WHERE d.id = u.id "
                "AND d.claimed_by = :worker AND d.attempts = u.attempts"
            ), {"worker": worker, "ids": [r[0] for r in self.retry],
                "attempts": [r[1] for r in self.retry], "when": [r[2] for r in self.retry],
                "errors": [r[3] for r in self.retry]})  # fmt: skip
        for state, items in self.final.items():
            if items:
                conn.execute(text(
                    "UPDATE deliveries d SET state = :state, last_error = u.err, "
                    "lease_until = NULL FROM unnest(CAST(:ids AS bigint[]), "
                    "CAST(:attempts AS int[]), CAST(:errors AS text[])) "
                    "AS u(id, attempts, err) WHERE d.id = u.id "
                "AND d.claimed_by = :worker AND d.attempts = u.attempts"
                ), {"state": state, "worker": worker, "ids": [i for i, _, _ in items],
                    "attempts": [a for _, a, _ in items],
                    "errors": [e for _, _, e in items]})  # fmt: skip
        if self.dead_addresses:
            # Forget the dead address, unless the app has registered a new one meanwhile.
            conn.execute(text(
                "UPDATE devices v SET fcm_token = CASE WHEN v.fcm_token = u.address THEN NULL "
                "ELSE v.fcm_token END, fcm_fid = CASE WHEN v.fcm_fid = u.address THEN NULL "
                "ELSE v.fcm_fid END, fcm_dead_at = now() "
                "FROM unnest(CAST(:devices AS uuid[]), CAST(:addresses AS text[])) "
                "AS u(device, address) WHERE v.id = u.device"
            ), {"devices": [d for d, _ in self.dead_addresses],
                "addresses": [a for _, a in self.dead_addresses]})  # fmt: skip
