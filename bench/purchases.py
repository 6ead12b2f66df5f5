"""Purchases in bulk, and the lifecycle they feed, on a private PostGIS with the real mall's
stores, members drawn from the lifetime model's own story (loyalty.synthetic):

- CSV ingest (`mallcast import purchases`: COPY into a staging table, then one INSERT ...
  SELECT) against a baseline of one INSERT per receipt, in the same run;
- the nightly lifecycle job: the model fit alone (`model_fit_s`) and the whole job;
- the lifecycle API's latency (`mallcast serve`, over HTTP, one client: mall, store and segment
  scopes over 13 to 52 weeks) against a baseline of the same weekly figures counted live from
  the receipts, in the same run.

    python bench/purchases.py [--quick] [--json]

Full: 100,000 members and about 2,000,000 receipts over two years; --quick: 10,000 members.
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import numpy as np
from sqlalchemy import select, text

from access.keys import create_key
from bench.common import arguments, bench_database, mallcast_server, percentiles_ms, report
from core.db import Database
from core.tenants.models import Tenant
from geofence.models import Mall
from loyalty.csv_import import COLUMNS, import_file
from loyalty.lifetime import BgNbd
from loyalty.models import LifecycleScope
from loyalty.nightly import refresh_lifecycle
from loyalty.purchases import store_purchases
from loyalty.schemas import PurchaseIn
from loyalty.synthetic import draw, receipts

DAYS = 730
BUYING = BgNbd(r=2.0, alpha=5.0, a=0.5, b=10.0)  # about 20 receipts a member over two years
NOW = datetime(2026, 11, 30, 20, tzinfo=UTC)


def write_receipts(path: Path, members: int, stores: list[int], seed: int = 7) -> int:
    """Receipts of `members` members over the two years to NOW; returns how many."""
    drawn = draw(members, DAYS, np.random.default_rng(seed), buying=BUYING, joining_days=365)
    start = NOW - timedelta(days=DAYS)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(row for row in receipts(drawn, stores, start, seed=seed)
                         if row[3] < NOW.isoformat())  # fmt: skip
    return len(drawn.member)


def row_by_row(database: Database, mall_id: int, path: Path, n: int) -> float:
    """The baseline: each receipt its own INSERT and transaction, as a naive loader does."""
    with path.open(newline="") as source:
        rows = [row for _, row in zip(range(n), csv.DictReader(source), strict=False)]
    started = time.perf_counter()
    for row in rows:
        receipt = PurchaseIn(txn_id="B" + row["txn_id"], member_id=row["member_id"],
                             at=datetime.fromisoformat(row["at"]), amount=row["amount"],
                             currency=row["currency"], items=int(row["items"]))  # fmt: skip
        with database.sessions() as session:
            store_purchases(session, mall_id, [(int(row["store"]), receipt)],
                            datetime.now(UTC))  # fmt: skip
            session.commit()
    return n / (time.perf_counter() - started)


# The baseline of the lifecycle API: one scope's weekly figures counted from the receipts.
_LIVE_WEEKS = text(
    """
    SELECT date_trunc('week', at AT TIME ZONE :tz) AS week, count(DISTINCT member_id),
           count(*), sum(amount)
    FROM purchases WHERE mall_id = :m AND at >= :since GROUP BY 1 ORDER BY 1
    """
)


def lifecycle_latencies(base: str, key: str, mall_id: int, stores: list[int], n: int
                        ) -> list[float]:  # fmt: skip
    """Sequential requests of one client over the scopes an operator and a store ask for."""
    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {key}"}
    latencies = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for i in range(n):
            params: dict[str, str | int] = {
                "since": (NOW.date() - timedelta(weeks=rng.choice((13, 26, 52)))).isoformat(),
                "until": NOW.date().isoformat(),
            }
            if i % 3 == 1:
                params["tenant_id"] = rng.choice(stores)
            elif i % 3 == 2:
                params["segment"] = rng.choice(("churn_risk", "top_spender", "lapsed_buyer"))
            started = time.perf_counter()
            response = client.get(f"/v1/malls/{mall_id}/lifecycle", params=params)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or not response.json()["weeks"]:
                raise RuntimeError(f"lifecycle answered {response.status_code}: {response.text}")
    return latencies


def live_latencies(database: Database, mall_id: int, timezone: str, n: int) -> list[float]:
    latencies = []
    for weeks in [13, 26, 52] * (n // 3):
        started = time.perf_counter()
        with database.sessions() as session:
            since = NOW - timedelta(weeks=weeks)
            session.execute(_LIVE_WEEKS, {"m": mall_id, "tz": timezone, "since": since}).all()
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    args = arguments(__doc__ or "")
    members, naive_n, requests = (10_000, 1_000, 150) if args.quick else (100_000, 5_000, 600)
    with bench_database() as (url, mall_id), tempfile.TemporaryDirectory() as folder:
        database = Database(url, pool_size=2)
        with database.sessions() as session:
            stores = list(session.scalars(select(Tenant.id).where(Tenant.mall_id == mall_id)))
            timezone = session.scalars(select(Mall.timezone).where(Mall.id == mall_id)).one()
        path = Path(folder) / "receipts.csv"
        receipts_n = write_receipts(path, members, stores)
        with database.sessions() as session:
            summary = import_file(session, mall_id, path)
            session.commit()
        with database.sessions() as session:  # the same file again: every receipt a duplicate
            again = import_file(session, mall_id, path)
            session.commit()
        naive = row_by_row(database, mall_id, path, naive_n)
        started = time.perf_counter()
        with database.sessions() as session:
            refresh_lifecycle(session, mall_id, timezone, NOW)
            session.commit()
        job_s = time.perf_counter() - started
        with database.sessions() as session:
            model = session.get(LifecycleScope, (mall_id, 0, "")).model  # type: ignore[union-attr]
            key = create_key(session, role="operator", mall_ids=[mall_id]).plaintext
            session.commit()
        with mallcast_server(url, MALLCAST_SCHEDULER="false") as base:
            lifecycle_latencies(base, key, mall_id, stores, 20)  # warm up
            served = lifecycle_latencies(base, key, mall_id, stores, requests)
        live = live_latencies(database, mall_id, timezone, max(30, requests // 10))
        database.dispose()
    rate = summary.received / summary.seconds
    p50, p99 = percentiles_ms(served)
    live_p50, live_p99 = percentiles_ms(live)
    figures = {
        "receipts": receipts_n,
        "members": members,
        "csv_purchases_per_s": round(rate),
        "csv_again_purchases_per_s": round(again.received / again.seconds),
        "row_by_row_purchases_per_s": round(naive),
        "csv_vs_row_by_row": round(rate / naive, 1),
        "model_fit_s": model["fit_s"],
        "members_fitted": model["members_fitted"],
        "lifecycle_job_s": round(job_s, 1),
        "lifecycle_p50_ms": round(p50, 1),
        "lifecycle_p99_ms": round(p99, 1),
        "live_weeks_p50_ms": round(live_p50, 1),
        "live_weeks_p99_ms": round(live_p99, 1),
        "live_vs_lifecycle_p99": round(live_p99 / p99, 1),
        "quick": args.quick,
    }
    report(
        f"purchases: {receipts_n:,} receipts of {members:,} members, {len(stores)} stores",
        [
            ("CSV import (COPY + INSERT ... SELECT)", f"{rate:,.0f} receipts/s "
             f"({summary.stored:,} stored, {summary.members_new:,} members made)"),
            ("the same file again (all duplicates)",
             f"{again.received / again.seconds:,.0f} receipts/s ({again.stored} stored)"),
            ("baseline: one INSERT and transaction each", f"{naive:,.0f} receipts/s"),
            ("CSV / baseline", f"{rate / naive:,.1f}x"),
            ("nightly model fit (BG/NBD + Gamma-Gamma)",
             f"{model['fit_s']:.1f} s for {model['members_fitted']:,} members"),
            ("the whole nightly lifecycle job", f"{job_s:.1f} s"),
            ("lifecycle API (HTTP, one client)", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms "
             f"({requests} requests)"),
            ("baseline: one scope's weeks counted live", f"p50 {live_p50:.1f} ms, "
             f"p99 {live_p99:.1f} ms"),
            ("live / API p99", f"{live_p99 / p99:,.1f}x"),
        ],
        figures,
        args.json,
    )  # fmt: skip


if __name__ == "__main__":
    main()
