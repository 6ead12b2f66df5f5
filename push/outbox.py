"""The outbox and its dispatcher: pushes written with their decision, sent by whoever claims them.

States of a delivery:

    pending --claim--> sending --FCM accepted--> sent
                          |  --retryable error--> retry --(next_attempt_at)--> sending ...
                          |  --token dead--> dead_token      --payload refused--> failed
                          |  --offer expired before sending--> expired
                          |  --device has no address--> no_address
                          +--(dispatcher died: lease runs out)--> claimed again

Claiming is one statement (`FOR UPDATE SKIP LOCKED`): two dispatchers never hold the same
delivery, and a dispatcher killed after claiming re-sends at most what it had claimed, once its
lease expires. Verdicts are recorded in one statement per kind.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from push.errors import Verdict
from push.gateway import FCM_BATCH_LIMIT, Push
from push.models import Delivery

log = logging.getLogger("mallcast.push")


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 2.0
    max_s: float = 600.0
    quota_s: float = 60.0  # FCM asks for at least a minute after a 429
    max_attempts: int = 8

    def delay_s(self, attempts: int, verdict: Verdict, rng: random.Random) -> float:
        """Exponential backoff with full jitter, never sooner than Retry-After or the quota."""
        backoff = min(self.max_s, self.base_s * 2.0 ** max(0, attempts - 1)) * rng.uniform(0.5, 1.5)
        if verdict.quota:
            backoff = max(backoff, self.quota_s)
        if verdict.retry_after_s is not None:
            backoff = max(backoff, verdict.retry_after_s)
        return backoff


def enqueue(
    session: Session,
    *,
    decision_id: int,
    device_id: uuid.UUID,
    title: str,
    body: str,
    data: dict[str, str],
    collapse_key: str,
    image_url: str | None,
    created_at: datetime,
    ttl: timedelta,
) -> Delivery:
    """Add a delivery to the caller's transaction (the one storing the decision)."""
    delivery = Delivery(
        decision_id=decision_id, device_id=device_id, state="pending", title=title, body=body,
        data=data, collapse_key=collapse_key, image_url=image_url, created_at=created_at,
        expires_at=created_at + ttl, next_attempt_at=created_at, attempts=0,
    )  # fmt: skip
    session.add(delivery)
    return delivery


@dataclass
class TickResult:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    dead_token: int = 0
    failed: int = 0
    expired: int = 0
    no_address: int = 0
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


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        send: Callable[[list[Push]], list[Verdict]],
        *,
        batch: int = FCM_BATCH_LIMIT,
        lease_s: float = 60.0,
        policy: RetryPolicy | None = None,
        worker: str | None = None,
        on_tick: Callable[[TickResult], None] | None = None,
    ) -> None:
        self.engine = engine
        self.send = send
        self.batch = min(batch, FCM_BATCH_LIMIT)
        self.lease_s = lease_s
        self.policy = policy or RetryPolicy()
        self.worker = worker or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self.on_tick = on_tick
        self._rng = random.Random()  # noqa: S311  # jitter, not secrets
        self._stop = threading.Event()

    def tick(self, now: datetime | None = None) -> TickResult:
        """Claim a batch of due deliveries, send them, record what happened."""
        now = now or datetime.now(UTC)
        result = TickResult()
        with self.engine.begin() as conn:
            rows = conn.execute(_CLAIM, {
                "now": now, "limit": self.batch, "worker": self.worker,
                "lease_until": now + timedelta(seconds=self.lease_s),
            }).all()  # fmt: skip
        result.claimed = len(rows)
        if not rows:
            return result
        outcomes = _Outcomes()
        pushes: list[Push] = []
        sendable = []
        for row in rows:
            address, kind = (row.fcm_fid, "fid") if row.fcm_fid else (row.fcm_token, "token")
            if row.expires_at <= now:
                outcomes.final["expired"].append((row.id, "the offer expired before it was sent"))
            elif not address:
                outcomes.final["no_address"].append((row.id, "the device has no FCM address"))
            else:
                pushes.append(Push(address, kind, row.title, row.body, dict(row.data),
                                   row.collapse_key, row.expires_at, row.image_url))  # fmt: skip
                sendable.append(row)
        verdicts = self.send(pushes) if pushes else []
        accepted_at = datetime.now(UTC)
        for row, push, verdict in zip(sendable, pushes, verdicts, strict=True):
            if verdict.kind == "sent":
                outcomes.sent.append((row.id, verdict.message_name, push.address))
                result.sent_latency_s.append((accepted_at - row.created_at).total_seconds())
            elif verdict.kind == "retry" and row.attempts < self.policy.max_attempts:
                delay = self.policy.delay_s(row.attempts, verdict, self._rng)
                outcomes.retry.append((row.id, now + timedelta(seconds=delay), verdict.error))
            elif verdict.kind == "retry":
                outcomes.final["failed"].append(
                    (row.id, f"gave up after {row.attempts} attempts: {verdict.error}")
                )
            elif verdict.kind == "dead_token":
                outcomes.final["dead_token"].append((row.id, verdict.error))
                outcomes.dead_addresses.append((row.device_id, push.address))
            else:
                outcomes.final["failed"].append((row.id, verdict.error))
        with self.engine.begin() as conn:
            outcomes.record(conn, accepted_at)
        result.sent, result.retry = len(outcomes.sent), len(outcomes.retry)
        for state, items in outcomes.final.items():
            setattr(result, state, len(items))
        if self.on_tick is not None:
            self.on_tick(result)
        return result

    def run(self, *, idle_s: float = 0.1) -> None:
        """Tick until stopped; sleep a little only when there was nothing to do."""
        while not self._stop.is_set():
            try:
                result = self.tick()
            except Exception:  # the database went away, say: log, wait, try again
                log.exception("dispatcher tick failed")
                self._stop.wait(1.0)
                continue
            if result.claimed < self.batch:
                self._stop.wait(idle_s)

    def stop(self) -> None:
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=self.worker, daemon=True)
        thread.start()
        return thread


@dataclass
class _Outcomes:
    sent: list[tuple[int, str | None, str]] = field(default_factory=list)  # id, name, address
    retry: list[tuple[int, datetime, str | None]] = field(default_factory=list)  # id, when, why
    final: dict[str, list[tuple[int, str | None]]] = field(default_factory=lambda: {
        "dead_token": [], "failed": [], "expired": [], "no_address": []})  # fmt: skip
    dead_addresses: list[tuple[uuid.UUID, str]] = field(default_factory=list)

    def record(self, conn: Connection, now: datetime) -> None:
        if self.sent:
            conn.execute(text(
                "UPDATE deliveries d SET state = 'sent', sent_at = :now, "
                "fcm_message_name = u.name, address = u.address, lease_until = NULL, "
                "last_error = NULL FROM unnest(CAST(:ids AS bigint[]), CAST(:names AS text[]), "
                "CAST(:addresses AS text[])) AS u(id, name, address) WHERE d.id = u.id"
            ), {"now": now, "ids": [s[0] for s in self.sent], "names": [s[1] for s in self.sent],
                "addresses": [s[2] for s in self.sent]})  # fmt: skip
        if self.retry:
            conn.execute(text(
                "UPDATE deliveries d SET state = 'retry', next_attempt_at = u.at, "
                "last_error = u.err, lease_until = NULL FROM unnest(CAST(:ids AS bigint[]), "
                "CAST(:when AS timestamptz[]), CAST(:errors AS text[])) AS u(id, at, err) "
                "WHERE d.id = u.id"
            ), {"ids": [r[0] for r in self.retry], "when": [r[1] for r in self.retry],
                "errors": [r[2] for r in self.retry]})  # fmt: skip
        for state, items in self.final.items():
            if items:
                conn.execute(text(
                    "UPDATE deliveries d SET state = :state, last_error = u.err, "
                    "lease_until = NULL FROM unnest(CAST(:ids AS bigint[]), "
                    "CAST(:errors AS text[])) AS u(id, err) WHERE d.id = u.id"
                ), {"state": state, "ids": [i for i, _ in items],
                    "errors": [e for _, e in items]})  # fmt: skip
        if self.dead_addresses:
            # Forget the dead address, unless the app has registered a new one meanwhile.
            conn.execute(text(
                "UPDATE devices v SET fcm_token = CASE WHEN v.fcm_token = u.address THEN NULL "
                "ELSE v.fcm_token END, fcm_fid = CASE WHEN v.fcm_fid = u.address THEN NULL "
                "ELSE v.fcm_fid END, fcm_dead_at = :now "
                "FROM unnest(CAST(:devices AS uuid[]), CAST(:addresses AS text[])) "
                "AS u(device, address) WHERE v.id = u.device"
            ), {"now": now, "devices": [d for d, _ in self.dead_addresses],
                "addresses": [a for _, a in self.dead_addresses]})  # fmt: skip
