"""End to end: simulated shoppers -> HTTP ingest -> events -> decisions -> outbox -> local FCM.

`mallcast serve --workers 2` runs in its own processes (two API processes, and the parent with
the dispatcher thread), pushing to a local FCM-compatible server in another process; the load
generator (the demo's simulator, demo.http's lean client) runs here, on the same machine.
Phases:

  batched   pings in requests of 50, across many devices, as fast as they are answered
  single    one ping per request, 64 clients at once
  naive     the design mallcast avoids, in this process: one PostGIS query per ping, a row
            insert and commit per ping, and a synchronous FCM send for each zone entry

  steady    50-ping batches at half the batched throughput, on a fixed schedule per device:
            latency from the moment a ping left the load generator to the moment the local FCM
            server accepted the push it caused (`deliveries.sent_at`), p50 and p99

    python bench/e2e.py [--quick] [--json]
"""

from __future__ import annotations

import asyncio
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path: the repository must come before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from firebase_admin import messaging
from sqlalchemy import create_engine, text

from bench.common import (
    arguments,
    bench_database,
    local_fcm,
    mallcast_server,
    percentiles_ms,
    report,
)
from core.db import libpq_conninfo
from demo.http import LeanClient
from demo.simulator import Simulation
from push.gateway import FcmGateway

ROOT = Path(__file__).resolve().parent.parent
NAIVE_ADDRESS = "naive-device"
# Phones in flight at once in the single-ping phase: a mall's app has thousands; at 32 the two
# API processes waited for requests a third of the time (each ingests what has arrived while
# its last transaction ran).
SINGLE_CLIENTS = 64


def simulated_pings(devices: int, per_device: int, start: float) -> list[list[dict[str, Any]]]:
    """Per device, its pings in time order (the simulator's walks, repeated as needed)."""
    sim = Simulation(devices, start=start, seed=5, ping_every_s=2.0)
    by_device: list[list[dict[str, Any]]] = [[] for _ in range(devices)]
    for index, ping in sim.advance(start + per_device * 2.0 + 120):
        if len(by_device[index]) < per_device:
            by_device[index].append(ping)
    return by_device


async def drive(base: str, pings: list[list[dict[str, Any]]], batch: int,
                concurrency: int) -> tuple[float, float, int]:  # fmt: skip
    """Send every device's pings in requests of `batch`; (pings/s, requests/s, requests)."""
    async with LeanClient(base, connections=concurrency) as client:
        answers = await asyncio.gather(*(client.post("/v1/devices", {
            "platform": "android", "fcm_token": f"e2e-{i}-{time.time_ns()}",
            "consents": {"location": True, "marketing_push": True}}) for i in range(len(pings))
        ))  # fmt: skip
        # Encoded before the clock starts: what is measured is the server, not json.dumps.
        work = [
            [client.encode("POST", "/v1/pings", {"pings": mine[k : k + batch]},
                           {"Authorization": f"Bearer {answer.json()['token']}"})
             for k in range(0, len(mine), batch)]
            for answer, mine in zip(answers, pings, strict=True)
        ]  # fmt: skip
        queue: asyncio.Queue[list[bytes]] = asyncio.Queue()
        for requests_of_device in work:
            queue.put_nowait(requests_of_device)

        async def worker() -> None:
            while not queue.empty():
                for raw in queue.get_nowait():  # one device's requests, in order
                    answer = await client.send(raw)
                    if answer.status != 200:
                        raise RuntimeError(f"ping batch refused: {answer.status} {answer.body!r}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    requests = sum(len(w) for w in work)
    total = sum(len(p) for p in pings)
    return total / elapsed, requests / elapsed, requests


async def steady(
    base: str, pings: list[list[dict[str, Any]]], batch: int, rate: float
) -> dict[tuple[str, float], float]:
    """Send 50-ping batches at `rate` pings/s, each device's in order, on a fixed schedule.
    Returns when each ping left the client: (device id, ping ts) -> time.time()."""
    sent_at: dict[tuple[str, float], float] = {}
    async with LeanClient(base, connections=32) as client:
        answers = await asyncio.gather(*(client.post("/v1/devices", {
            "platform": "android", "fcm_token": f"steady-{i}-{time.time_ns()}",
            "consents": {"location": True, "marketing_push": True}}) for i in range(len(pings))
        ))  # fmt: skip
        devices = [answer.json() for answer in answers]
        rounds = max(len(p) for p in pings) // batch
        interval = len(pings) * batch / rate  # one request per device per round
        began = time.perf_counter()

        async def device(k: int) -> None:
            headers = {"Authorization": f"Bearer {devices[k]['token']}"}
            for r in range(rounds):
                due = began + r * interval + k * interval / len(pings)
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                chunk = pings[k][r * batch : (r + 1) * batch]
                now = time.time()
                for ping in chunk:
                    sent_at[(devices[k]["device_id"], round(float(ping["ts"]), 3))] = now
                answer = await client.post("/v1/pings", {"pings": chunk}, headers)
                if answer.status != 200:
                    raise RuntimeError(f"ping batch refused: {answer.status} {answer.body!r}")

        await asyncio.gather(*(device(k) for k in range(len(pings))))
    return sent_at


def push_latencies(url: str, sent_at: dict[tuple[str, float], float]) -> list[float]:
    """From the ping that caused each push leaving the client to FCM accepting the push."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT d.device_id::text, extract(epoch FROM e.at), extract(epoch FROM d.sent_at) "
            "FROM deliveries d JOIN decisions x ON x.id = d.decision_id "
            "JOIN zone_events e ON e.id = x.event_id WHERE d.state = 'sent'")).all()  # fmt: skip
    engine.dispose()
    keyed = [((device, round(float(at), 3)), float(accepted)) for device, at, accepted in rows]
    return [accepted - sent_at[key] for key, accepted in keyed if key in sent_at]


def wait_for_outbox(url: str, timeout_s: float = 120) -> None:
    engine = create_engine(url)
    deadline = time.monotonic() + timeout_s
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            left = conn.execute(text("SELECT count(*) FROM deliveries WHERE state IN "
                                     "('pending', 'retry', 'sending')")).scalar_one()  # fmt: skip
            conn.commit()
            if left == 0:
                break
            time.sleep(0.1)
    engine.dispose()


def naive(url: str, mall_id: int, pings: list[dict[str, Any]], fcm_url: str) -> float:
    """One query, one insert and commit per ping; a synchronous FCM send per zone entry."""
    gateway = FcmGateway(local_url=fcm_url)
    inside: set[int] = set()
    query = ("SELECT z.id FROM zones z LEFT JOIN levels l ON l.id = z.level_id "
             "WHERE z.mall_id = %s AND ST_Covers(z.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
             "AND (z.level_id IS NULL OR l.ordinal = %s)")  # fmt: skip
    with psycopg.connect(libpq_conninfo(url)) as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        conn.execute("CREATE TEMP TABLE naive_pings (ts float8, lon float8, lat float8)")
        began = time.perf_counter()
        for ping in pings:
            zones = {row[0] for row in conn.execute(query, (mall_id, ping["lon"], ping["lat"],
                                                            ping["level"]))}  # fmt: skip
            conn.execute("INSERT INTO naive_pings VALUES (%s, %s, %s)",
                         (ping["ts"], ping["lon"], ping["lat"]))  # fmt: skip
            conn.commit()
            for _ in zones - inside:
                notification = messaging.Notification("Offer", "Now")
                message = messaging.Message(token=NAIVE_ADDRESS, notification=notification)
                messaging.send(message, app=gateway.app)
            inside = zones
        rate = len(pings) / (time.perf_counter() - began)
    gateway.close()
    return rate


def evening_zone(now: float) -> str:
    """A time zone (Etc/GMT-14 to Etc/GMT+12) in which it is 18:00-18:59 at `now`."""
    offset = (18 - datetime.fromtimestamp(now, UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-8 is eight hours ahead of UTC


def move_to_evening(url: str, mall_id: int, now: float) -> None:
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute("UPDATE malls SET timezone = %s WHERE id = %s", (evening_zone(now), mall_id))


def main() -> None:
    args = arguments(__doc__ or "")
    devices, per_device = (200, 100) if args.quick else (1000, 200)
    single_devices, single_per_device = (100, 10) if args.quick else (300, 20)
    with local_fcm() as fcm_url, bench_database(with_promotions=True) as (url, mall_id):
        env = {"MALLCAST_FCM_URL": fcm_url, "MALLCAST_SCHEDULER": "false", "MALLCAST_WORKERS": "2"}
        # Live pings (the server decides on its wall clock: older ones are too late for an
        # offer) in a mall where it is evening now, whatever the hour here: pings in quiet hours
        # cause no push, and the steady phase's latency needs pushes. The steady phase's pings
        # begin now, the batched ones ten minutes before.
        move_to_evening(url, mall_id, time.time())
        start = time.time() - 600
        batched_pings = simulated_pings(devices, per_device, start)
        single_pings = simulated_pings(single_devices, single_per_device, start)
        steady_pings = simulated_pings(devices, 50, start + 600)
        with mallcast_server(url, **env) as base:
            # Sustained rates: first warm the server up (connections, caches) on other devices.
            asyncio.run(drive(base, simulated_pings(64, 50, start - 1800), 10, 16))
            batched, _, _ = asyncio.run(drive(base, batched_pings, 50, 16))
            _, single_rps, _ = asyncio.run(drive(base, single_pings, 1, SINGLE_CLIENTS))
            wait_for_outbox(url)
            rate = batched / 2
            sent_at = asyncio.run(steady(base, steady_pings, 50, rate))
            wait_for_outbox(url)
            latencies = push_latencies(url, sent_at)
            if not latencies:
                raise RuntimeError("the steady phase caused no push: no latency to report")
            p50, p99 = percentiles_ms(latencies)
            pushes = len(latencies)
        naive_rate = naive(url, mall_id, [p for ps in batched_pings[:20] for p in ps][:1500],
                           fcm_url)  # fmt: skip

    figures = {
        "batched_pings_per_s": round(batched),
        "single_requests_per_s": round(single_rps, 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "steady_pings_per_s": round(rate),
        "pushes": pushes,
        "naive_pings_per_s": round(naive_rate),
        "vs_naive": round(batched / naive_rate, 1) if naive_rate else None,
        "devices": devices,
        "quick": args.quick,
    }
    report(
        "end to end: simulator -> HTTP ingest -> decisions -> outbox -> local FCM",
        [
            (f"batched (50 pings/request, {devices} devices)", f"{batched:,.0f} pings/s"),
            ("single-ping requests", f"{single_rps:,.0f} requests/s"),
            (
                f"ping sent -> FCM accepted, at {rate:,.0f} pings/s ({pushes} pushes)",
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            ),
            ("naive (query + commit per ping, sync send)", f"{naive_rate:,.0f} pings/s"),
            ("batched / naive", f"{batched / naive_rate:,.1f}x" if naive_rate else "n/a"),
        ],
        figures,
        args.json,
    )


if __name__ == "__main__":
    main()
