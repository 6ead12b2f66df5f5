"""One device's pings from overlapping transactions (client retries, parallel uploads, two API
processes): each transaction continues from what the one before it committed."""

from __future__ import annotations

import threading
import time
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.rules import ingest_limits, presence_rules
from core.db import Database
from geofence.ingest import IngestRequest, IngestResult, ingest_group
from geofence.models import ZoneEvent
from tests.support.api import device, ping, starbucks, stay


def ingest(client: TestClient, db: Database, request: IngestRequest) -> tuple[object, object]:
    """A transaction of its own: returns (session, outcome) with the transaction still open."""
    state = client.app.state  # type: ignore[attr-defined]
    session = db.sessions().__enter__()
    [outcome] = ingest_group(
        session, state.zone_cache, [request], now=time.time(),
        rules=presence_rules(state.settings), limits=ingest_limits(state.settings),
        sink=state.event_sink,
    )  # fmt: skip
    return session, outcome


def events(db: Database, device_id: uuid.UUID) -> list[tuple[str, str]]:
    with db.sessions() as session:
        rows = session.execute(
            select(ZoneEvent.kind, ZoneEvent.subject)
            .where(ZoneEvent.device_id == device_id).order_by(ZoneEvent.at, ZoneEvent.id)
        ).all()  # fmt: skip
    return [(kind, subject) for kind, subject in rows]


def test_a_transaction_that_waited_for_the_device_reads_what_the_other_committed(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    shopper = device(client, location=True)
    start = time.time() - 600
    first = IngestRequest(shopper, stay(lon, lat, start), None, None)  # entered the store
    # The second upload: still in the store 40 s later, then out of the mall five minutes on.
    later = stay(lon, lat, start + 40)
    later.append(ping(start + 340, lon + 40 / 96_000, lat))
    second = IngestRequest(shopper, later, None, None)

    holder, _ = ingest(client, db, first)  # holds the device row, not yet committed
    outcome: list[IngestResult | BaseException] = []

    def waiting() -> None:
        try:
            session, result = ingest(client, db, second)  # waits for the device row
            session.commit()  # type: ignore[attr-defined]
            session.close()  # type: ignore[attr-defined]
            outcome.append(result)  # type: ignore[arg-type]
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    thread = threading.Thread(target=waiting)
    thread.start()
    time.sleep(0.5)  # it is blocked on the lock now
    assert thread.is_alive()
    holder.commit()  # type: ignore[attr-defined]
    holder.close()  # type: ignore[attr-defined]
    thread.join(timeout=30)
    assert not isinstance(outcome[0], BaseException), outcome

    # One visit: entered once, left once; never a second enter from a stale presence.
    assert events(db, shopper) == [
        ("enter", "mall"), ("enter", "zone"), ("exit", "zone"), ("exit", "mall"),
    ]  # fmt: skip
