"""Push delivery when FCM is slow, stalls or answers late: the real SDK, the local FCM server.

The promise (docs/push.md): at least once, never after the offer expired, and a second copy only
when a dispatcher died between FCM accepting a message and recording it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import Database
from push.dispatcher import Dispatcher
from push.fcm_server import FakeFCM, Fault
from push.gateway import FcmGateway
from push.models import Delivery
from tests.support.api import FAST, deliveries, states

# FCM answering late, for real: seconds of waiting each.
pytestmark = pytest.mark.slow


@pytest.fixture
def fcm() -> Iterator[FakeFCM]:
    with FakeFCM() as server:
        yield server


def gateway(fcm: FakeFCM, concurrency: int = 20) -> FcmGateway:
    return FcmGateway(local_url=fcm.url, concurrency=concurrency, timeout_s=30)


def run_dispatchers(dispatchers: list[Dispatcher], db: Database, until_s: float = 60) -> None:
    """Run them as `mallcast worker` does (their own loops) until the outbox is empty."""
    threads = [d.start_thread() for d in dispatchers]
    try:
        deadline = time.monotonic() + until_s
        while states(db)["pending"] + states(db)["retry"] + states(db)["sending"]:
            assert time.monotonic() < deadline, states(db)
            time.sleep(0.05)
    finally:
        for d in dispatchers:
            d.stop()
        for thread in threads:
            thread.join(timeout=30)


def test_live_dispatchers_never_send_twice_when_fcm_is_slower_than_the_lease(
    db: Database, fcm: FakeFCM
) -> None:
    # Each answer takes longer than a whole lease: only extending the leases of messages in
    # flight keeps the other dispatcher from taking them over and sending them again.
    deliveries(db, 40)
    fcm.state.latency_s = 1.5
    gateways = [gateway(fcm), gateway(fcm)]
    try:
        run_dispatchers([Dispatcher(db.engine, g, lease_s=1.0, policy=FAST) for g in gateways],
                        db)  # fmt: skip
    finally:
        for g in gateways:
            g.close()
    assert states(db) == {"sent": 40}
    per_address = Counter(r.address for r in fcm.received)
    assert len(per_address) == 40
    assert set(per_address.values()) == {1}


def test_a_stalled_message_holds_only_its_own_slot(db: Database, fcm: FakeFCM) -> None:
    stalled = set(deliveries(db, 3))
    for token in stalled:
        fcm.inject(Fault(200, latency_s=4.0, token=token))
    sender = gateway(fcm, concurrency=8)
    dispatcher = Dispatcher(db.engine, sender, policy=FAST)
    thread = dispatcher.start_thread()
    try:
        deadline = time.monotonic() + 30
        while len(fcm.state.received) + fcm.state.in_flight < 3:  # the stalled ones are out
            assert time.monotonic() < deadline
            time.sleep(0.02)
        later = set(deliveries(db, 20))  # offers made while those hang
        while states(db)["sent"] < 23:
            assert time.monotonic() < deadline, states(db)
            time.sleep(0.05)
    finally:
        dispatcher.stop()
        thread.join(timeout=30)
        sender.close()
    answered = {r.address: r.at for r in fcm.accepted()}
    # The later offers went out and were answered while the stalled ones still hung.
    assert max(answered[a] for a in later) < min(answered[a] for a in stalled)


def test_expiry_is_checked_when_the_message_goes_out_not_when_it_was_claimed(
    db: Database, fcm: FakeFCM
) -> None:
    # One slot: the second message waits behind a slow first one and expires meanwhile.
    first = deliveries(db, 1)[0]
    deliveries(db, 1, ttl=timedelta(seconds=1.5))
    fcm.inject(Fault(200, latency_s=2.5, token=first))
    sender = gateway(fcm, concurrency=1)
    try:
        result = Dispatcher(db.engine, sender, policy=FAST).tick()
    finally:
        sender.close()
    assert (result.sent, result.expired) == (1, 1)
    assert [r.address for r in fcm.received] == [first]  # the expired one never went out
    assert states(db) == {"sent": 1, "expired": 1}


def test_the_android_ttl_is_what_is_left_when_it_goes_out(db: Database, fcm: FakeFCM) -> None:
    first, second = deliveries(db, 1)[0], deliveries(db, 1, ttl=timedelta(seconds=30))[0]
    fcm.inject(Fault(200, latency_s=2.0, token=first))
    sender = gateway(fcm, concurrency=1)
    try:
        Dispatcher(db.engine, sender, policy=FAST).tick()
    finally:
        sender.close()
    [received] = [r for r in fcm.received if r.address == second]
    ttl_s = float(received.message["android"]["ttl"].rstrip("s"))
    expires = int(received.message["apns"]["headers"]["apns-expiration"])
    # Computed when sent (after the two-second wait), not when claimed...
    assert ttl_s < 29.0
    # ...and reaching the deadline APNs is given (sent no later than it arrived; the header is
    # whole seconds, rounded down), however long the send itself took.
    assert ttl_s >= expires - received.arrived


def test_a_taken_over_claim_cannot_overwrite_the_new_owner_s_outcome(
    db: Database, fcm: FakeFCM
) -> None:
    [token] = deliveries(db, 1)
    fcm.state.latency_s = 1.0
    sender = gateway(fcm)
    try:
        frozen = Dispatcher(db.engine, sender, lease_s=0.4, policy=FAST)
        frozen.pump()  # claimed and handed to FCM, then this dispatcher froze: no extension
        time.sleep(0.5)
        fcm.state.latency_s = 0.0
        successor = Dispatcher(db.engine, sender, lease_s=30, policy=FAST)
        assert successor.tick().sent == 1
        time.sleep(1.0)  # the frozen one's answer is back
        late = frozen.tick()
    finally:
        sender.close()
    assert late.sent == 1  # FCM accepted its copy too: a frozen dispatcher's duplicate...
    with db.sessions() as session:
        row = session.scalars(select(Delivery)).one()
    copies = sorted((r for r in fcm.accepted() if r.address == token), key=lambda r: r.arrived)
    assert len(copies) == 2
    # ...but the record is the successor's, fenced by (claimed_by, attempts).
    assert (row.state, row.attempts, row.claimed_by) == ("sent", 2, successor.worker)
    assert row.fcm_message_name == copies[1].name


def test_claimed_deliveries_stay_visible_in_the_outbox_gauges(db: Database, fcm: FakeFCM) -> None:
    from api.metrics import Metrics

    deliveries(db, 3)
    fcm.state.latency_s = 5.0
    sender = gateway(fcm)
    try:
        Dispatcher(db.engine, sender, policy=FAST).pump()  # claimed, in flight
        assert states(db) == {"sending": 3}
        scraped = Metrics(db.engine).render().decode()
    finally:
        fcm.state.latency_s = 0.0
        sender.close()
    assert "mallcast_outbox_due 3.0" in scraped.splitlines()


def test_the_dispatcher_logs_one_line_per_database_outage(
    db: Database, fcm: FakeFCM, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import create_engine

    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False)
    sender = gateway(fcm)
    dispatcher = Dispatcher(dead, sender, policy=FAST)
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    with caplog.at_level("WARNING", logger="mallcast.push"):
        thread.start()
        time.sleep(3.5)  # three retries
        dispatcher.stop()
        thread.join(timeout=10)
    sender.close()
    lines = [r for r in caplog.records if r.name == "mallcast.push"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "cannot reach the database" in lines[0].getMessage()
    assert lines[0].exc_info is None  # one line, no traceback per tick
