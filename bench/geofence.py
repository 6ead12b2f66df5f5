"""How fast mallcast tells which zones pings are in, and ingests them over HTTP.

Same mall (the real ILC site: 1,286 zones on 5 levels), same points (the surveyors' walk
positions with GPS-like noise), three ways:
  engine   ZoneIndex.match: one vectorised call for the whole array
  naive    a Python loop over points, testing each zone of the point's level with Shapely
  postgis  one query per ping (ST_Covers), over the Unix socket
then the HTTP ingest path end to end (`mallcast serve`, one process): single-ping requests and
100-ping batches, with p50/p99 latency per request.

    python bench/geofence.py [--quick] [--json]
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from importlib import resources
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path: put the repository first, so that
# `geofence` is the package and not this script.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import psycopg
import shapely

from bench.common import (
    arguments,
    bench_database,
    mallcast_server,
    percentiles_ms,
    report,
)
from core.db import Database, libpq_conninfo
from demo.http import LeanClient
from geofence.cache import ZoneIndexCache
from geofence.index import ZoneIndex


def walk_points(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    text = resources.files("demo").joinpath("ilc_site1", "waypoints.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    level = np.array([int(r["level"]) for r in rows])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(rows), n)
    noise_deg = 3.0 / 111_000  # ~3 m of GPS noise
    return (lon[pick] + rng.normal(0, noise_deg, n), lat[pick] + rng.normal(0, noise_deg, n),
            level[pick])  # fmt: skip


def bench_engine(index: ZoneIndex, lon: np.ndarray, lat: np.ndarray, level: np.ndarray) -> float:
    index.match(lon[:1000], lat[:1000], level[:1000])  # warm up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        index.match(lon, lat, level)
        best = min(best, time.perf_counter() - start)
    return len(lon) / best


def bench_naive(index: ZoneIndex, lon: np.ndarray, lat: np.ndarray, level: np.ndarray) -> float:
    by_level: dict[int, list[tuple[int, object]]] = {}
    for zone in index.zones.values():
        for lv in [zone.level] if zone.level is not None else index.levels:
            by_level.setdefault(lv, []).append((zone.zone_id, zone.geometry))
    start = time.perf_counter()
    for x, y, lv in zip(lon.tolist(), lat.tolist(), level.tolist(), strict=True):
        point = shapely.Point(x, y)
        _ = [zone_id for zone_id, geometry in by_level.get(lv, [])
             if geometry.intersects(point)]  # type: ignore[attr-defined]  # fmt: skip
    return len(lon) / (time.perf_counter() - start)


def bench_postgis(
    url: str, mall_id: int, lon: np.ndarray, lat: np.ndarray, level: np.ndarray
) -> float:
    conninfo = libpq_conninfo(url)
    query = (
        "SELECT z.id FROM zones z LEFT JOIN levels l ON l.id = z.level_id "
        "WHERE z.mall_id = %s AND ST_Covers(z.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
        "AND (z.level_id IS NULL OR l.ordinal = %s)"
    )
    with psycopg.connect(conninfo, prepare_threshold=0) as conn:
        conn.execute(query, (mall_id, float(lon[0]), float(lat[0]), int(level[0]))).fetchall()
        start = time.perf_counter()
        for x, y, lv in zip(lon.tolist(), lat.tolist(), level.tolist(), strict=True):
            conn.execute(query, (mall_id, x, y, lv)).fetchall()
        return len(lon) / (time.perf_counter() - start)


async def bench_ingest(
    base: str, *, devices: int, requests_per_device: int, batch: int, concurrency: int
) -> tuple[float, float, float, float]:
    """(requests per second, pings per second, p50 ms, p99 ms)."""
    lon, lat, level = walk_points(devices * requests_per_device * batch, seed=11)
    async with LeanClient(base, connections=concurrency, timeout_s=60) as client:
        tokens = []
        for _ in range(devices):
            response = await client.post("/v1/devices", {
                "platform": "android", "consents": {"location": True}})  # fmt: skip
            tokens.append(response.json()["token"])
        latencies: list[float] = []
        start_ts = time.time() - requests_per_device * batch - 60
        queue: asyncio.Queue[int] = asyncio.Queue()
        for device in range(devices):
            queue.put_nowait(device)

        async def worker() -> None:
            while not queue.empty():
                device = queue.get_nowait()
                headers = {"Authorization": f"Bearer {tokens[device]}"}
                for r in range(requests_per_device):
                    first = (device * requests_per_device + r) * batch
                    pings = [
                        {"ts": start_ts + r * batch + k, "lon": float(lon[first + k]),
                         "lat": float(lat[first + k]), "accuracy_m": 4.0,
                         "level": int(level[first + k])}
                        for k in range(batch)
                    ]  # fmt: skip
                    began = time.perf_counter()
                    response = await client.post("/v1/pings", {"pings": pings}, headers)
                    latencies.append(time.perf_counter() - began)
                    if response.status != 200:
                        raise RuntimeError(f"ping batch refused: {response.status}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    p50, p99 = percentiles_ms(latencies)
    requests = devices * requests_per_device
    return requests / elapsed, requests * batch / elapsed, p50, p99


def main() -> None:
    args = arguments(__doc__ or "")
    engine_n, naive_n, postgis_n = (200_000, 2_000, 2_000) if args.quick else (
        2_000_000, 10_000, 10_000)  # fmt: skip
    single = (50, 20) if args.quick else (200, 50)
    batched = (20, 5) if args.quick else (100, 10)
    with bench_database() as (url, mall_id):
        database = Database(url, pool_size=1)
        with database.sessions() as session:
            index = ZoneIndexCache().index(session, mall_id)
        database.dispose()
        assert index is not None
        lon, lat, level = walk_points(engine_n)
        engine = bench_engine(index, lon, lat, level)
        naive = bench_naive(index, lon[:naive_n], lat[:naive_n], level[:naive_n])
        postgis = bench_postgis(url, mall_id, lon[:postgis_n], lat[:postgis_n], level[:postgis_n])
        with mallcast_server(url) as base:
            single_rps, _, single_p50, single_p99 = asyncio.run(bench_ingest(
                base, devices=single[0], requests_per_device=single[1], batch=1,
                concurrency=16))  # fmt: skip
            batch_rps, batch_pps, batch_p50, batch_p99 = asyncio.run(bench_ingest(
                base, devices=batched[0], requests_per_device=batched[1], batch=100,
                concurrency=8))  # fmt: skip

    figures = {
        "zones": len(index.zones),
        "levels": len(index.levels),
        "engine_matches_per_s": round(engine),
        "naive_matches_per_s": round(naive),
        "postgis_matches_per_s": round(postgis),
        "engine_vs_naive": round(engine / naive, 1),
        "engine_vs_postgis": round(engine / postgis, 1),
        "ingest_single_per_s": round(single_rps, 1),
        "ingest_single_p50_ms": round(single_p50, 2),
        "ingest_single_p99_ms": round(single_p99, 2),
        "ingest_batch_requests_per_s": round(batch_rps, 1),
        "ingest_batch_pings_per_s": round(batch_pps),
        "ingest_batch_p50_ms": round(batch_p50, 2),
        "ingest_p99_ms": round(max(single_p99, batch_p99), 2),
        "quick": args.quick,
    }
    report(
        f"zone matching on the real mall ({len(index.zones)} zones, {len(index.levels)} levels)",
        [
            ("engine (ZoneIndex, vectorised)", f"{engine:,.0f} matches/s"),
            ("naive (per-point Shapely loop)", f"{naive:,.0f} matches/s"),
            ("postgis (one query per ping)", f"{postgis:,.0f} matches/s"),
            ("engine / naive", f"{engine / naive:,.0f}x"),
            ("engine / postgis", f"{engine / postgis:,.0f}x"),
            (
                "HTTP single-ping requests",
                f"{single_rps:,.0f} req/s, p50 {single_p50:.1f} ms, p99 {single_p99:.1f} ms",
            ),
            (
                "HTTP 100-ping batches",
                f"{batch_pps:,.0f} pings/s ({batch_rps:,.0f} req/s), "
                f"p50 {batch_p50:.1f} ms, p99 {batch_p99:.1f} ms",
            ),
        ],
        figures,
        args.json,
    )


if __name__ == "__main__":
    main()
