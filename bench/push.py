"""How fast pushes go from the outbox to FCM (the local FCM-compatible server) via firebase-admin.

1. Throughput: a backlog of deliveries, drained by dispatcher processes (`--dispatchers`, each
   claiming with SKIP LOCKED and keeping a window of messages in flight): messages per second.
2. Latency: deliveries enqueued at a steady rate (half the measured throughput) while the
   dispatchers run: p50 and p99 from enqueue to FCM's acceptance.
   Both after the dispatchers have sent a few hundred messages (OAuth tokens, connections).
3. Baseline, same process, same server: the naive design, one synchronous `messaging.send` per
   message.
4. Against a server answering in 50 ms (as FCM over the internet does): the gateway's window of
   messages in flight (the default 20, and 100) against the naive synchronous send.
5. Faults: one message in ten answered 2 s late, two dispatchers whose leases (1.5 s) are
   shorter than such an answer, offers that expire after 30 s: pushes sent twice
   (`fault_duplicates`, must be 0), sent after their expiry (`fault_late`, must be 0), and the
   p50 from enqueue to accepted (`fault_p50_ms`, against the steady phase's p50).

The local server runs in its own process (uvicorn), so it is not what is measured (but in the
fault phase, where it runs in this process to count what it received).

    python bench/push.py [--quick] [--json] [--dispatchers N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path: the repository must come before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firebase_admin import messaging
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bench.common import arguments, bench_database, local_fcm, percentiles_ms, report
from core.settings import Settings
from push.dispatcher import Dispatcher
from push.fcm_server import FakeFCM, Fault
from push.gateway import FcmGateway, Push

_SETUP = """
WITH mall AS (
    INSERT INTO malls (name, timezone, footprint, zones_version, created_at, updated_at)
    VALUES ('bench ' || gen_random_uuid(), 'UTC',
            ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))', 4326), 1, now(), now())
    RETURNING id
), dev AS (
    INSERT INTO devices (id, platform, app_version, locale, fcm_token, consent_location,
                         consent_marketing_push, consents_updated_at, interests, token_version,
                         created_at)
    SELECT gen_random_uuid(), 'android', '', 'en', 'bench-' || g, true, true, now(), '[]', 1,
           now()
    FROM generate_series(1, :n) g
    RETURNING id
), ev AS (
    INSERT INTO zone_events (device_id, mall_id, subject, kind, at, created_at)
    SELECT dev.id, mall.id, 'mall', 'enter', now(), now() FROM dev, mall
    RETURNING id, device_id, mall_id
)
INSERT INTO decisions (event_id, device_id, mall_id, outcome, segments, explanation, at,
                       created_at)
SELECT id, device_id, mall_id, 'sent', '[]', '{}', now(), now() FROM ev
"""

_ENQUEUE = """
INSERT INTO deliveries (decision_id, device_id, state, title, body, data, collapse_key,
                        created_at, expires_at, next_attempt_at, attempts)
SELECT d.id, d.device_id, 'pending', 'Two coffees, one price', 'Tonight only, at the till',
       jsonb_build_object('decision_id', d.id::text, 'promotion_id', '1'), 'promotion-1',
       clock_timestamp(), clock_timestamp() + interval '15 minutes', clock_timestamp(), 0
FROM decisions d
WHERE d.id > (SELECT coalesce(max(decision_id), 0) FROM deliveries)
ORDER BY d.id LIMIT :n
"""
_ENQUEUE_TTL = _ENQUEUE.replace("interval '15 minutes'", "make_interval(secs => :ttl)")
# The next decisions after the last enqueued: an index range, where an anti-join over every
# decision took long enough, at the steady phase's 50 inserts a second, to show in its latency
# (rows stamped at insert become visible, to dispatchers, only at commit).


REMOTE_LATENCY_MS = 50.0
DEFAULT_CONCURRENCY = Settings.model_fields["fcm_concurrency"].default
WIDE_CONCURRENCY = 100  # a deployment facing FCM's real round trip would raise the window


def dispatch(url: str, fcm_url: str, stop: Any, lease_s: float = 60.0) -> None:
    """One dispatcher process, running as in `mallcast worker` until told to stop."""
    engine = create_engine(url, pool_size=2)
    gateway = FcmGateway(local_url=fcm_url)
    dispatcher = Dispatcher(engine, gateway, batch=500, lease_s=lease_s)
    thread = dispatcher.start_thread()
    stop.wait()
    dispatcher.stop()
    thread.join(timeout=60)
    gateway.close()
    engine.dispose()


class Dispatchers:
    """`count` dispatcher processes, running until every delivery is sent."""

    def __init__(self, url: str, fcm_url: str, count: int, lease_s: float = 60.0) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.processes = [
            context.Process(target=dispatch, args=(url, fcm_url, self.stop, lease_s))
            for _ in range(count)
        ]
        for process in self.processes:
            process.start()

    def finish(self, engine: Engine, timeout_s: float = 600) -> float:
        """Wait until nothing is left to send, then stop; when that was (perf_counter)."""
        done = drained(engine, timeout_s)
        self.stop.set()
        for process in self.processes:
            process.join(timeout=60)
        return done


WARM_UP = 400


def warm_up(engine: Engine) -> None:
    """Sustained rates: the dispatchers' first sends fetch OAuth tokens and open connections
    (half a second here), so they send a few hundred before any clock starts."""
    with engine.begin() as conn:
        conn.execute(text(_ENQUEUE), {"n": WARM_UP})
    drained(engine)


def drained(engine: Engine, timeout_s: float = 600) -> float:
    """Wait until nothing is left to send; when that was (perf_counter)."""
    deadline = time.perf_counter() + timeout_s
    with engine.connect() as conn:
        while time.perf_counter() < deadline:
            left = conn.execute(
                text("SELECT count(*) FROM deliveries WHERE state IN ('pending', 'retry', "
                     "'sending')")
            ).scalar_one()  # fmt: skip
            conn.commit()
            if left == 0:
                break
            time.sleep(0.01)
    return time.perf_counter()


FAULT_EVERY = 10  # one message in ten...
FAULT_SLOW_S = 2.0  # ...is answered this much later
FAULT_LEASE_S = 1.5  # shorter than a slow answer: only extended leases prevent a second send
FAULT_TTL_S = 30.0
# Offers per second in the fault phase. Within the dispatchers' windows (Little's law: 2 x 20 in
# flight hold 1 in 10 of 80/s answered 2 s late, 16, with room for the rest), so that what it
# shows is head-of-line blocking or its absence, not a window too small for the stall.
FAULT_RATE = 80.0


def bench_faults(url: str, engine: Engine, dispatchers: int, messages: int) -> dict[str, float]:
    """FCM slow on one message in ten, two dispatchers whose leases are shorter than a slow
    answer: pushes sent twice, sent after their expiry, and enqueue -> accepted p50."""
    with FakeFCM() as fcm:
        fcm.inject(Fault(200, latency_s=FAULT_SLOW_S, times=None, every=FAULT_EVERY))
        running = Dispatchers(url, fcm.url, dispatchers, lease_s=FAULT_LEASE_S)
        time.sleep(2.0)
        warm_up(engine)
        with engine.begin() as conn:
            mark = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        rate, produced, began = FAULT_RATE, 0, time.perf_counter()
        while produced < messages:
            due = min(messages, int((time.perf_counter() - began) * rate)) - produced
            if due > 0:
                with engine.begin() as conn:
                    conn.execute(text(_ENQUEUE_TTL), {"n": due, "ttl": FAULT_TTL_S})
                produced += due
            time.sleep(0.02)
        running.finish(engine)
        copies: dict[str, int] = {}
        late = 0
        for received in fcm.accepted():
            copies[received.address or ""] = copies.get(received.address or "", 0) + 1
            expires = int(received.message["apns"]["headers"]["apns-expiration"])
            late += received.arrived > expires + 1  # apns-expiration is whole seconds
    with engine.connect() as conn:
        sent = text("SELECT extract(epoch FROM sent_at - created_at) FROM deliveries "
                    "WHERE state = 'sent' AND created_at >= :mark")  # fmt: skip
        latencies = conn.execute(sent, {"mark": mark}).scalars().all()
    p50, _ = percentiles_ms([float(x) for x in latencies])
    return {
        "fault_duplicates": sum(n - 1 for n in copies.values()),
        "fault_late": late,
        "fault_p50_ms": round(p50, 1),
        "fault_sent": len(latencies),
    }


def bench_naive(fcm_url: str, messages: int) -> float:
    gateway = FcmGateway(local_url=fcm_url)
    built = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for i in range(messages):
            built.append(
                messaging.Message(
                    token=f"naive-{i}",
                    notification=messaging.Notification("Two coffees, one price", "Tonight only"),
                    data={"decision_id": str(i)},
                )
            )
    messaging.send(built[0], app=gateway.app)  # warm up: OAuth token, connection
    start = time.perf_counter()
    for message in built:
        messaging.send(message, app=gateway.app)
    rate = messages / (time.perf_counter() - start)
    gateway.close()
    return rate


def bench_remote(messages: int, latency_ms: float, concurrency: int) -> float:
    """Gateway messages/s against a server answering latency_ms later."""
    with local_fcm(latency_ms) as fcm_url:
        gateway = FcmGateway(local_url=fcm_url, concurrency=concurrency)
        expires = datetime.now(UTC) + timedelta(minutes=15)
        pushes = [Push(f"remote-{i}", "token", "Two coffees, one price", "Tonight only",
                       {"decision_id": str(i)}, "promotion-1", expires)
                  for i in range(messages)]  # fmt: skip
        gateway.send(pushes[: 2 * concurrency])  # warm up: OAuth tokens, connections
        start = time.perf_counter()
        for first in range(0, messages, 500):
            gateway.send(pushes[first : first + 500])
        windowed = messages / (time.perf_counter() - start)
        gateway.close()
    return windowed


def bench_naive_at(latency_ms: float, messages: int) -> float:
    with local_fcm(latency_ms) as fcm_url:
        return bench_naive(fcm_url, messages)


def _dispatchers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dispatchers", type=int, default=2, help="dispatcher processes")


def main() -> None:
    args = arguments(__doc__ or "", _dispatchers_option)
    dispatchers = args.dispatchers
    backlog, steady_s, naive_n = (3_000, 4.0, 300) if args.quick else (20_000, 15.0, 1_000)

    with local_fcm() as fcm_url:
        with bench_database() as (url, _):
            engine = create_engine(url)
            fault_n = 400 if args.quick else 1_600  # 5 s or 20 s at FAULT_RATE
            steady_n = int(steady_s * 3000) + 3 * WARM_UP + fault_n
            with engine.begin() as conn:
                conn.execute(text(_SETUP), {"n": backlog + steady_n})

            # 1. Throughput on a backlog, enqueued once the dispatchers are up.
            draining = Dispatchers(url, fcm_url, dispatchers)
            time.sleep(3.0)
            warm_up(engine)
            with engine.begin() as conn:
                conn.execute(text(_ENQUEUE), {"n": backlog})
            began = time.perf_counter()
            throughput = backlog / (draining.finish(engine) - began)

            # 2. Latency at a steady rate: half the throughput.
            rate = throughput / 2
            running = Dispatchers(url, fcm_url, dispatchers)
            time.sleep(2.0)
            warm_up(engine)
            produced, began = 0, time.perf_counter()
            with engine.begin() as conn:
                mark = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            while time.perf_counter() - began < steady_s:
                due = int((time.perf_counter() - began) * rate) - produced
                if due > 0:
                    with engine.begin() as conn:
                        conn.execute(text(_ENQUEUE), {"n": due})
                    produced += due
                time.sleep(0.02)
            running.finish(engine)
            with engine.connect() as conn:
                latencies = (
                    conn.execute(
                        text(
                            "SELECT extract(epoch FROM sent_at - created_at) FROM deliveries "
                            "WHERE state = 'sent' AND created_at >= :mark"
                        ),
                        {"mark": mark},
                    )
                    .scalars()
                    .all()
                )
            # 3. Faults: FCM slow on one message in ten; leases shorter than a slow answer.
            faults = bench_faults(url, engine, dispatchers, fault_n)
            engine.dispose()
        p50, p99 = percentiles_ms([float(x) for x in latencies])
        naive = bench_naive(fcm_url, naive_n)
    remote_n = 1_000 if args.quick else 4_000
    remote = bench_remote(remote_n, REMOTE_LATENCY_MS, DEFAULT_CONCURRENCY)
    remote_wide = bench_remote(remote_n, REMOTE_LATENCY_MS, WIDE_CONCURRENCY)
    remote_naive = bench_naive_at(REMOTE_LATENCY_MS, max(20, remote_n // 20))

    figures = {
        "messages_per_s": round(throughput),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "steady_rate_per_s": round(rate),
        "naive_messages_per_s": round(naive),
        "vs_naive": round(throughput / naive, 1),
        "remote_messages_per_s": round(remote),
        "remote_wide_messages_per_s": round(remote_wide),
        "remote_naive_messages_per_s": round(remote_naive, 1),
        **faults,
        "fault_p50_vs_steady": round(faults["fault_p50_ms"] / p50, 1) if p50 else None,
        "dispatchers": dispatchers,
        "quick": args.quick,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    report(
        "push: outbox -> firebase-admin -> local FCM server",
        [
            (
                f"throughput ({dispatchers} dispatchers, batches of 500)",
                f"{throughput:,.0f} messages/s",
            ),
            (
                f"latency at {rate:,.0f} msg/s, enqueue -> accepted",
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            ),
            (
                f"faults: 1 in {FAULT_EVERY} answered {FAULT_SLOW_S:g} s late, leases "
                f"{FAULT_LEASE_S:g} s",
                f"{faults['fault_duplicates']} sent twice, {faults['fault_late']} sent after "
                f"expiry, p50 {faults['fault_p50_ms']:.1f} ms of {faults['fault_sent']:,}",
            ),
            ("naive: one synchronous messaging.send per message", f"{naive:,.0f} messages/s"),
            ("outbox / naive", f"{throughput / naive:,.1f}x"),
            (
                f"FCM answering in {REMOTE_LATENCY_MS:g} ms: gateway (one process)",
                f"{remote:,.0f} messages/s",
            ),
            (
                f"FCM answering in {REMOTE_LATENCY_MS:g} ms: {WIDE_CONCURRENCY} in flight",
                f"{remote_wide:,.0f} messages/s",
            ),
            (
                f"FCM answering in {REMOTE_LATENCY_MS:g} ms: naive synchronous send",
                f"{remote_naive:,.1f} messages/s",
            ),
        ],
        figures,
        args.json,
    )


if __name__ == "__main__":
    main()
