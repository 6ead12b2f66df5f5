"""Ping requests arriving together are ingested together, and still answered one by one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.ingest_gate import IngestGate
from api.metrics import Metrics
from api.rules import ingest_limits, presence_rules
from core.db import Database
from core.errors import Forbidden, InvalidInput, Unauthorized
from core.events import EventSink, StoredEvent
from geofence.ingest import IngestRequest, IngestResult
from geofence.models import Ping, ZoneEvent
from tests.support.api import device, ping, starbucks, stay


def gate_of(client: TestClient, sink: EventSink | None = None) -> IngestGate:
    state = client.app.state  # type: ignore[attr-defined]
    return IngestGate(state.database, state.zone_cache, sink or state.event_sink,
                      state.settings, Metrics(state.database.engine))  # fmt: skip


def groups(gate: IngestGate) -> tuple[float, float]:
    """How many transactions ran, and how many requests they held."""
    registry = gate.metrics.registry
    count = registry.get_sample_value("mallcast_ingest_group_requests_count") or 0.0
    total = registry.get_sample_value("mallcast_ingest_group_requests_sum") or 0.0
    return count, total


async def together(gate: IngestGate, requests: list[IngestRequest]) -> list[Any]:
    return await asyncio.gather(*(gate.ingest(r) for r in requests), return_exceptions=True)


def pings_of(db: Database, device_id: uuid.UUID) -> int:
    with db.sessions() as session:
        return int(session.scalar(
            select(func.count()).select_from(Ping).where(Ping.device_id == device_id)
        ) or 0)  # fmt: skip


def test_requests_arriving_together_share_one_transaction(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    devices = [device(client, location=True) for _ in range(12)]
    gate = gate_of(client)
    standing = stay(lon, lat, time.time() - 40)  # 6 pings in the store
    outcomes = asyncio.run(together(gate, [
        IngestRequest(d, standing, None, 1) for d in devices
    ]))  # fmt: skip

    assert all(isinstance(o, IngestResult) for o in outcomes), outcomes
    assert [o.accepted for o in outcomes] == [6] * 12
    assert all([e.kind for e in o.events] == ["enter"] * 2 for o in outcomes)  # mall and store
    assert groups(gate) == (1.0, 12.0)  # one transaction for all twelve
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ping)) == 72
        assert session.scalar(select(func.count()).select_from(ZoneEvent)) == 24


def test_a_refused_request_does_not_hold_back_the_others(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    good, revoked, empty = (device(client, location=True) for _ in range(3))
    silent = device(client)  # registered without location consent
    now = time.time() - 10
    gate = gate_of(client)
    outcomes = asyncio.run(together(gate, [
        IngestRequest(good, [ping(now, lon, lat)], None, 1),
        IngestRequest(revoked, [ping(now, lon, lat)], None, 2),  # not its token's version
        IngestRequest(silent, [ping(now, lon, lat)], None, 1),
        IngestRequest(empty, [], None, 1),
        IngestRequest(uuid.uuid4(), [ping(now, lon, lat)], None, 1),  # erased meanwhile
    ]))  # fmt: skip

    assert isinstance(outcomes[0], IngestResult)
    assert outcomes[0].accepted == 1
    assert isinstance(outcomes[1], Unauthorized)
    assert isinstance(outcomes[2], Forbidden)
    assert outcomes[2].code == "location_consent_required"
    assert isinstance(outcomes[3], InvalidInput)
    assert outcomes[3].code == "empty_batch"
    assert isinstance(outcomes[4], Unauthorized)
    assert groups(gate) == (1.0, 5.0)
    assert [pings_of(db, d) for d in (good, revoked, silent)] == [1, 0, 0]


class FailsFor:
    """The promotion engine, but failing for one device (a bug, say): its whole group fails."""

    def __init__(self, inner: EventSink, device_id: uuid.UUID) -> None:
        self.inner, self.device_id = inner, device_id

    def on_events(
        self, session: Session, device_id: uuid.UUID, events: Sequence[StoredEvent]
    ) -> dict[int, Any]:
        if device_id == self.device_id:
            raise RuntimeError("boom")
        return self.inner.on_events(session, device_id, events)


def test_a_failing_group_is_retried_request_by_request(
    client: TestClient, db: Database, mall_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    good, bad, other = (device(client, location=True) for _ in range(3))
    state = client.app.state  # type: ignore[attr-defined]
    gate = gate_of(client, FailsFor(state.event_sink, bad))
    now = time.time() - 10
    outcomes = asyncio.run(together(gate, [
        IngestRequest(d, [ping(now, lon, lat)], None, 1) for d in (good, bad, other)
    ]))  # fmt: skip

    assert isinstance(outcomes[1], RuntimeError)
    assert [o.accepted for o in (outcomes[0], outcomes[2])] == [1, 1]
    assert [pings_of(db, d) for d in (good, bad, other)] == [1, 0, 1]  # bad's rolled back
    assert groups(gate) == (0.0, 0.0)  # the group failed: no group committed as such
    (warning,) = [r for r in caplog.records if r.name == "mallcast.ingest"]
    assert warning.getMessage().endswith("(RuntimeError); retrying them one by one")
    assert f"{lon:.5f}" not in warning.getMessage()  # never a coordinate in the logs


def test_one_device_twice_goes_in_two_groups_in_order(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    shopper = device(client, location=True)
    gate = gate_of(client)
    now = time.time() - 10
    first, second = asyncio.run(together(gate, [
        IngestRequest(shopper, [ping(now, lon, lat)], None, 1),
        IngestRequest(shopper, [ping(now + 5, lon, lat), ping(now, lon, lat)], None, 1),
    ]))  # fmt: skip

    assert (first.accepted, second.accepted, second.duplicates) == (1, 1, 1)
    assert groups(gate) == (2.0, 2.0)
    assert pings_of(db, shopper) == 2


def test_a_device_appears_once_per_group(client: TestClient) -> None:
    from geofence.ingest import ingest_group

    shopper = device(client, location=True)
    state = client.app.state  # type: ignore[attr-defined]
    with state.database.sessions() as session, pytest.raises(ValueError, match="twice"):
        ingest_group(session, state.zone_cache, [IngestRequest(shopper, [])] * 2, now=0.0,
                     rules=presence_rules(state.settings),
                     limits=ingest_limits(state.settings), sink=state.event_sink)  # fmt: skip


def test_a_request_whose_client_went_away_is_still_ingested(
    client: TestClient, db: Database, mall_id: int
) -> None:
    # Its group is already forming with others; cancelling that one request (the client hung
    # up) must neither lose it nor sink the group.
    _, lon, lat = starbucks(db, mall_id)
    stays, leaves = device(client, location=True), device(client, location=True)
    gate = gate_of(client)
    now = time.time() - 10

    async def scenario() -> IngestResult:
        # The one leaving is the group's first: its outcome is set before the other's.
        leaving = asyncio.ensure_future(gate.ingest(IngestRequest(leaves, [ping(now, lon, lat)])))
        staying = asyncio.ensure_future(gate.ingest(IngestRequest(stays, [ping(now, lon, lat)])))
        await asyncio.sleep(0)  # both have joined the group
        leaving.cancel()
        return await asyncio.wait_for(staying, timeout=60)  # a guard against a hang, not a timing

    result = asyncio.run(scenario())
    assert result.accepted == 1
    assert groups(gate) == (1.0, 2.0)
    assert [pings_of(db, d) for d in (stays, leaves)] == [1, 1]
