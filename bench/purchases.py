"""Purchases in bulk: receipts per second from a CSV (`mallcast import purchases`: COPY into a
staging table, then one INSERT ... SELECT into members and purchases) against a baseline of
one INSERT per receipt, in the same run, on a private PostGIS with the real mall's stores.

    python bench/purchases.py [--quick] [--json]

Still to come (issue 15): the nightly model fit time for 100,000 members and the lifecycle
API's p99 (`model_fit_s`, `lifecycle_p99_ms`).
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

from sqlalchemy import select

from bench.common import arguments, bench_database, report
from core.db import Database
from core.tenants.models import Tenant
from loyalty.csv_import import COLUMNS, import_file
from loyalty.purchases import store_purchases
from loyalty.schemas import PurchaseIn


def write_receipts(path: Path, receipts: int, members: int, stores: list[int], seed: int = 7
                   ) -> None:  # fmt: skip
    """Receipts of `members` members over two years: amounts log-normal around 80, 1-6 items."""
    rng = random.Random(seed)
    now = datetime(2026, 11, 30, 20, tzinfo=UTC)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(receipts):
            at = now - timedelta(seconds=rng.randrange(730 * 86_400))
            writer.writerow((f"T{i:09d}", f"M{rng.randrange(members):08d}", rng.choice(stores),
                             at.isoformat(), f"{rng.lognormvariate(4.2, 0.7):.2f}", "CNY",
                             rng.randint(1, 6)))  # fmt: skip


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


def main() -> None:
    args = arguments(__doc__ or "")
    receipts, members, naive_n = (100_000, 10_000, 1_000) if args.quick else (
        1_000_000, 100_000, 5_000)  # fmt: skip
    with bench_database() as (url, mall_id), tempfile.TemporaryDirectory() as folder:
        database = Database(url, pool_size=2)
        with database.sessions() as session:
            stores = list(session.scalars(select(Tenant.id).where(Tenant.mall_id == mall_id)))
        path = Path(folder) / "receipts.csv"
        write_receipts(path, receipts, members, stores)
        with database.sessions() as session:
            summary = import_file(session, mall_id, path)
            session.commit()
        with database.sessions() as session:  # the same file again: every receipt a duplicate
            again = import_file(session, mall_id, path)
            session.commit()
        naive = row_by_row(database, mall_id, path, naive_n)
        database.dispose()
    rate = summary.received / summary.seconds
    figures = {
        "receipts": receipts,
        "members": members,
        "csv_purchases_per_s": round(rate),
        "csv_again_purchases_per_s": round(again.received / again.seconds),
        "row_by_row_purchases_per_s": round(naive),
        "csv_vs_row_by_row": round(rate / naive, 1),
        "quick": args.quick,
    }
    report(
        f"purchases from CSV: {receipts:,} receipts of {members:,} members, {len(stores)} stores",
        [
            ("CSV import (COPY + INSERT ... SELECT)", f"{rate:,.0f} receipts/s "
             f"({summary.stored:,} stored, {summary.members_new:,} members made)"),
            ("the same file again (all duplicates)",
             f"{again.received / again.seconds:,.0f} receipts/s ({again.stored} stored)"),
            ("baseline: one INSERT and transaction each", f"{naive:,.0f} receipts/s"),
            ("CSV / baseline", f"{rate / naive:,.1f}x"),
        ],
        figures,
        args.json,
    )  # fmt: skip


if __name__ == "__main__":
    main()
