"""The demo mall's loyalty history: a year of receipts of members drawn from the lifetime
model's own story (loyalty.synthetic), loaded as `mallcast import purchases` would, so that the
lifecycle figures, purchase segments and member views have something to show."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select, text

from core.db import Database
from core.tenants.models import Tenant
from loyalty.csv_import import COLUMNS, import_purchases
from loyalty.synthetic import draw, receipts

MEMBERS, DAYS = 2000, 365


def seed_purchases(database: Database, mall_id: int, now: datetime | None = None) -> int:
    """Load the history once (a mall with receipts already keeps them). Returns receipts
    stored."""
    with database.sessions() as session:
        if session.execute(
            text("SELECT 1 FROM purchases WHERE mall_id = :m LIMIT 1"), {"m": mall_id}
        ).first():
            return 0
        stores = list(
            session.scalars(select(Tenant.id).where(Tenant.mall_id == mall_id).order_by(Tenant.id))
        )
        if not stores:
            return 0
        start = (now or datetime.now(UTC)) - timedelta(days=DAYS + 1)
        drawn = draw(MEMBERS, DAYS, np.random.default_rng(2026))
        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(COLUMNS)
        writer.writerows(receipts(drawn, stores, start, prefix="D", seed=2026))
        rows.seek(0)
        stored = import_purchases(session, mall_id, rows).stored
        session.commit()
        return stored
