"""End to end: simulated shoppers -> HTTP ingest -> events -> decisions -> outbox -> local FCM.

`mallcast serve` runs in its own process (one uvicorn worker, its dispatcher thread), pushing to
a local FCM-compatible server in another process; the load generator (the demo's simulator,
httpx async) runs here, on the same machine. Phases:

  batched   pings in requests of 50, across many devices, as fast as they are answered
  single    one ping per request
  naive     the design mallcast avoids, in this process: one PostGIS query per ping, a row
            insert and commit per ping, and a synchronous FCM send for each zone entry

Latency is ping to FCM acceptance: from the decision (written in the ping's own transaction)
to the moment FCM accepted the push (`deliveries.sent_at - created_at`), p50 and p99.

    python bench/e2e.py [--quick] [--json]
"""

from __future__ import annotations

import asyncio
import sys
import time
import warnings
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path: the repository must come before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from firebase_admin import messaging
from sqlalchemy import create_engine, text

from api.db import libpq_conninfo
from api.demo.simulator import Simulation
from bench.common import (
    arguments,
    bench_database,
    local_fcm,
    mallcast_server,
    percentiles_ms,
    report,
)
from push.gateway import FcmGateway

ROOT = Path(__file__).resolve().parent.parent
NAIVE_ADDRESS = "naive-device"


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
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        tokens: list[str] = []
        for _ in pings:
            answer = await client.post("/v1/devices", json={
                "platform": "android", "fcm_token": f"e2e-{len(tokens)}-{time.time_ns()}",
                "consents": {"location": True, "marketing_push": True}})  # fmt: skip
            tokens.append(answer.json()["token"])
        queue: asyncio.Queue[int] = asyncio.Queue()
        for device in range(len(pings)):
            queue.put_nowait(device)
        requests = 0

        async def worker() -> None:
            nonlocal requests
            while not queue.empty():
                device = queue.get_nowait()
                headers = {"Authorization": f"Bearer {tokens[device]}"}
                for k in range(0, len(pings[device]), batch):
                    chunk = pings[device][k : k + batch]
                    answer = await client.post("/v1/pings", headers=headers, json={"pings": chunk})
                    answer.raise_for_status()
                    requests += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    total = sum(len(p) for p in pings)
    return total / elapsed, requests / elapsed, requests


def push_latencies(url: str, since: float) -> tuple[float, float, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        values = conn.execute(text(
            "SELECT extract(epoch FROM sent_at - created_at) FROM deliveries "
            "WHERE state = 'sent' AND created_at >= to_timestamp(:since)"), {"since": since}
        ).scalars().all()  # fmt: skip
    engine.dispose()
    if not values:
        return 0.0, 0.0, 0
    p50, p99 = percentiles_ms([float(v) for v in values])
    return p50, p99, len(values)


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


def main() -> None:
    args = arguments(__doc__ or "")
    devices, per_device = (200, 100) if args.quick else (1000, 200)
    single_devices, single_per_device = (100, 10) if args.quick else (300, 20)
    with local_fcm() as fcm_url, bench_database(with_promotions=True) as (url, mall_id):
        env = {"MALLCAST_FCM_URL": fcm_url, "MALLCAST_SCHEDULER": "false",
               "MALLCAST_PING_HORIZON_S": str(3 * 86400)}  # fmt: skip
        start = time.time() - 6 * 3600
        batched_pings = simulated_pings(devices, per_device, start)
        single_pings = simulated_pings(single_devices, single_per_device, start)
        with mallcast_server(url, **env) as base:
            mark = time.time()
            batched, _, _ = asyncio.run(drive(base, batched_pings, 50, 16))
            wait_for_outbox(url)
            p50, p99, pushes = push_latencies(url, mark)
            _, single_rps, _ = asyncio.run(drive(base, single_pings, 1, 32))
        naive_rate = naive(url, mall_id, [p for ps in batched_pings[:20] for p in ps][:1500],
                           fcm_url)  # fmt: skip

    figures = {
        "batched_pings_per_s": round(batched),
        "single_requests_per_s": round(single_rps, 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
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
            (f"ping -> FCM accepted ({pushes} pushes)", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"),
            ("naive (query + commit per ping, sync send)", f"{naive_rate:,.0f} pings/s"),
            ("batched / naive", f"{batched / naive_rate:,.1f}x" if naive_rate else "n/a"),
        ],
        figures,
        args.json,
    )


if __name__ == "__main__":
    main()
