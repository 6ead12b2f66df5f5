"""Push delivery through the real firebase-admin SDK against the local FCM-compatible server."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from core.db import Database
from core.devices.models import Device
from promotions.models import Decision
from push.dispatcher import Dispatcher
from push.fcm_server import FakeFCM, Fault
from push.gateway import FcmGateway, Push, Send
from push.models import Delivery
from push.outbox import enqueue
from tests.support.api import (
    FAST,
    approved_promotion,
    deliveries,
    evening_now,
    shopper,
    starbucks,
    states,
    walk_in,
)


@pytest.fixture(scope="module")
def fcm() -> Iterator[FakeFCM]:
    with FakeFCM() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(fcm: FakeFCM) -> Iterator[FcmGateway]:
    gw = FcmGateway(local_url=fcm.url)
    yield gw
    gw.close()


@pytest.fixture(autouse=True)
def clean_fcm(fcm: FakeFCM) -> None:
    fcm.clear()
    fcm.state.latency_s = 0.0


def dispatcher(db: Database, gateway: FcmGateway, **kwargs: Any) -> Dispatcher:
    return Dispatcher(db.engine, gateway, policy=kwargs.pop("policy", FAST), **kwargs)


def drain(d: Dispatcher, db: Database, *, until: float = 20.0) -> None:
    """Tick until nothing is pending or waiting for a retry."""
    deadline = time.monotonic() + until
    while states(db)["pending"] + states(db)["retry"] + states(db)["sending"]:
        assert time.monotonic() < deadline, states(db)
        if d.tick().claimed == 0:
            time.sleep(0.05)


def test_a_ping_ends_in_a_push_accepted_by_fcm(
    client: TestClient, db: Database, mall: dict[str, Any], fcm: FakeFCM, gateway: FcmGateway
) -> None:
    rules = client.get(f"/v1/malls/{mall['id']}/rules", headers=mall["operator"]).json()
    rules.pop("mall_id")
    client.put(
        f"/v1/malls/{mall['id']}/rules",
        headers=mall["operator"],
        json=rules | {"holdout_share": 0.0},
    )
    zone_id, lon, lat = starbucks(db, mall["id"])
    promotion = approved_promotion(
        client,
        mall,
        zone_id,
        deep_link="mallapp://offer/7",
        translations={"zh-CN": {"title": "第二杯半价", "body": "今晚"}},
    )
    events = walk_in(client, shopper(client), lon, lat, evening_now())
    decision = next(e for e in events if e["zone_id"] == zone_id)["decision"]
    assert decision["outcome"] == "sent"
    assert states(db) == {"pending": 1}

    result = dispatcher(db, gateway).tick()
    assert (result.claimed, result.sent) == (1, 1)
    [received] = fcm.accepted()
    message = received.message
    with db.sessions() as session:
        stored = session.get(Decision, decision["decision_id"])
        device = session.get(Device, stored.device_id) if stored else None
        assert device is not None
        assert message["token"] == device.fcm_token
    assert message["notification"] == {"title": "第二杯半价", "body": "今晚"}  # zh-CN device
    assert message["data"] == {
        "decision_id": str(decision["decision_id"]),
        "promotion_id": str(promotion["id"]),
        "deep_link": "mallapp://offer/7",
        "code": decision["code"],
    }
    assert message["android"]["priority"] == "high"
    assert message["android"]["collapse_key"] == f"promotion-{promotion['id']}"
    assert 0 < float(message["android"]["ttl"].rstrip("s")) <= 900
    assert message["apns"]["headers"]["apns-collapse-id"] == f"promotion-{promotion['id']}"
    assert int(message["apns"]["headers"]["apns-expiration"]) > time.time()
    with db.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    assert delivery.state == "sent"
    assert delivery.fcm_message_name == received.name
    assert fcm.state.tokens_issued >= 1  # the SDK went through the OAuth exchange
    row = client.get(f"/v1/malls/{mall['id']}/analytics", headers=mall["operator"]).json()
    assert row["promotions"][0]["delivered"] == 1


def test_503_is_retried_by_the_outbox_after_retry_after(
    db: Database, fcm: FakeFCM, gateway: FcmGateway
) -> None:
    [token] = deliveries(db, 1)
    fcm.inject(Fault(503, error_code=None, token=token, times=1, retry_after_s=1.0))
    d = dispatcher(db, gateway)
    assert d.tick().retry == 1  # not firebase-admin's own, unseen retry: the outbox's, counted
    drain(d, db)
    tries = [r for r in fcm.received if r.address == token]
    assert [r.status for r in tries] == [503, 200]
    assert tries[1].arrived - tries[0].at >= 1.0  # counted from FCM's answer
    with db.sessions() as session:
        assert session.scalars(select(Delivery.attempts)).one() == 2


def test_429_waits_at_least_retry_after(db: Database, fcm: FakeFCM, gateway: FcmGateway) -> None:
    [token] = deliveries(db, 1)
    fcm.inject(Fault(429, error_code="QUOTA_EXCEEDED", retry_after_s=1.5, token=token))
    d = dispatcher(db, gateway)
    assert d.tick().retry == 1
    assert d.tick().claimed == 0  # not due yet
    drain(d, db)
    tries = [r for r in fcm.received if r.address == token]
    assert [r.status for r in tries] == [429, 200]
    assert tries[1].arrived - tries[0].at >= 1.5


def test_unregistered_token_is_never_used_again(
    db: Database, fcm: FakeFCM, gateway: FcmGateway
) -> None:
    [token] = deliveries(db, 1)
    fcm.inject(Fault(404, error_code="UNREGISTERED", token=token, times=None))
    d = dispatcher(db, gateway)
    assert d.tick().dead_token == 1
    with db.sessions() as session:
        device = session.scalars(select(Device).where(Device.fcm_dead_at.is_not(None))).one()
        assert device.fcm_token is None  # forgotten; the device stays
        decision_id = session.scalars(select(Delivery.decision_id)).one()
        # Another offer for the same device later: nothing goes to the dead token.
        event_id = session.execute(text(
            "INSERT INTO zone_events (device_id, mall_id, subject, kind, at, created_at) "
            "SELECT device_id, mall_id, 'mall', 'exit', now(), now() FROM decisions "
            "WHERE id = :d RETURNING id"), {"d": decision_id}).scalar()  # fmt: skip
        second = session.execute(
            text("INSERT INTO decisions (event_id, device_id, mall_id, outcome, segments, "
                 "explanation, at, created_at) SELECT :e, device_id, mall_id, 'sent', '[]', "
                 "'{}', now(), now() FROM decisions WHERE id = :d RETURNING id"),
            {"e": event_id, "d": decision_id},
        ).scalar()  # fmt: skip
        enqueue(session, decision_id=int(second or 0), device_id=device.id, title="t", body="b",
                data={}, collapse_key="promotion-1", image_url=None,
                created_at=datetime.now(UTC), ttl=timedelta(minutes=5))  # fmt: skip
        session.commit()
    assert d.tick().no_address == 1
    assert [r.address for r in fcm.received] == [token]  # one request, ever


def test_invalid_payload_is_dead_lettered(db: Database, fcm: FakeFCM, gateway: FcmGateway) -> None:
    [token] = deliveries(db, 1)
    fcm.inject(Fault(400, error_code="INVALID_ARGUMENT", token=token,
                     message="Invalid value at 'message.data'"))  # fmt: skip
    assert dispatcher(db, gateway).tick().failed == 1
    with db.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    assert delivery.state == "failed"
    assert "message.data" in (delivery.last_error or "")


def test_an_expired_offer_is_never_sent_late(
    db: Database, fcm: FakeFCM, gateway: FcmGateway
) -> None:
    deliveries(db, 1, ttl=timedelta(seconds=-1))
    assert dispatcher(db, gateway).tick().expired == 1
    assert fcm.received == []


def test_a_dispatcher_killed_mid_batch_loses_nothing(
    db: Database, fcm: FakeFCM, gateway: FcmGateway
) -> None:
    deliveries(db, 30)

    class SendThenDie:
        concurrency = gateway.concurrency

        def submit(self, sends: Sequence[Send]) -> None:
            # FCM was handed some, then the process died before recording anything.
            gateway.submit([Send(send.push, lambda *_: None) for send in sends[:5]])
            raise SystemExit("killed")

    # A lease long enough that a loaded machine does not see it run out before the survivor's
    # first tick (it did at 0.5 s: the survivor then sent all 30 at once).
    doomed = Dispatcher(db.engine, SendThenDie(), batch=10, lease_s=3.0, policy=FAST)
    with pytest.raises(SystemExit):
        doomed.tick()
    assert states(db) == {"sending": 10, "pending": 20}
    survivor = Dispatcher(db.engine, gateway, batch=50, lease_s=0.5, policy=FAST)
    assert survivor.tick().sent == 20  # the claimed ten stay leased for now
    time.sleep(3.1)
    drain(survivor, db)
    assert states(db) == {"sent": 30}
    per_address = Counter(r.address for r in fcm.accepted())
    assert len(per_address) == 30  # nothing lost
    assert sum(n - 1 for n in per_address.values()) <= 10  # re-sent at most what was claimed


def test_two_dispatchers_never_send_the_same_delivery_twice(
    db: Database, fcm: FakeFCM, gateway: FcmGateway
) -> None:
    deliveries(db, 300)
    fcm.state.latency_s = 0.002
    first, second = (Dispatcher(db.engine, gateway, batch=25, policy=FAST) for _ in range(2))
    threads = [threading.Thread(target=drain, args=(d, db)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert states(db) == {"sent": 300}
    per_address = Counter(r.address for r in fcm.accepted())
    assert len(per_address) == 300
    assert set(per_address.values()) == {1}


def test_metrics_show_the_flow_and_the_outbox(
    client: TestClient, db: Database, mall: dict[str, Any], fcm: FakeFCM, gateway: FcmGateway
) -> None:
    zone_id, lon, lat = starbucks(db, mall["id"])
    approved_promotion(client, mall, zone_id)
    for i in range(3):
        walk_in(client, shopper(client), lon, lat, evening_now() + i)
    deliveries(db, 2)

    def sample(name: str, **labels: str) -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    assert sample("mallcast_pings_total", result="accepted") == 3 * 9  # walk_in sends nine
    assert sample("mallcast_zone_events_total", kind="enter", subject="zone") == 3
    decided = sum(
        sample("mallcast_decisions_total", outcome=o) for o in ("sent", "holdout", "none")
    )
    assert decided == 3 * 4  # mall and zone, enter and exit, for three shoppers
    due = sample("mallcast_outbox_due")
    assert due >= 2
    assert sample("mallcast_outbox_oldest_due_seconds") >= 0
    metrics = client.app.state.metrics  # type: ignore[attr-defined]
    d = Dispatcher(db.engine, gateway, policy=FAST, on_tick=metrics.count_tick)
    drain(d, db)
    assert sample("mallcast_deliveries_total", outcome="sent") == due
    assert sample("mallcast_outbox_due") == 0


def test_an_installation_id_is_preferred_over_the_token(
    client: TestClient, db: Database, fcm: FakeFCM, gateway: FcmGateway
) -> None:
    [token] = deliveries(db, 1)
    with db.sessions() as session:
        device = session.scalars(select(Device).where(Device.fcm_token == token)).one()
        device.fcm_fid = "fid-" + token
        session.commit()
    assert dispatcher(db, gateway).tick().sent == 1
    [received] = fcm.accepted()
    assert received.message.get("fid") == "fid-" + token
    assert "token" not in received.message
    registered = client.post("/v1/devices", json={"platform": "ios", "fcm_fid": "fid-1"}).json()
    assert registered["device"]["has_fcm_fid"] is True
    assert registered["device"]["has_fcm_token"] is False


@pytest.mark.slow  # real time or a process of its own
def test_a_worker_killed_with_sigkill_mid_batch_loses_nothing(
    db: Database, database_url: str, fcm: FakeFCM, gateway: FcmGateway
) -> None:
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    deliveries(db, 40)
    fcm.state.latency_s = 0.3  # slow FCM: the worker is in the middle of its batch when killed
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLCAST_")} | {
        "MALLCAST_DATABASE_URL": database_url, "MALLCAST_FCM_URL": fcm.url,
        "MALLCAST_PUSH_LEASE_S": "1", "MALLCAST_SCHEDULER": "false",
    }  # fmt: skip
    worker = subprocess.Popen([str(Path(sys.executable).parent / "mallcast"), "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not fcm.received:
            assert time.monotonic() < deadline, "the worker never sent"
            time.sleep(0.02)
        time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    claimed = states(db)["sending"]
    assert claimed > 0  # it died holding a claimed batch
    fcm.state.latency_s = 0.0
    time.sleep(1.1)  # the dead worker's lease runs out
    drain(dispatcher(db, gateway), db)
    assert states(db) == {"sent": 40}
    per_address = Counter(r.address for r in fcm.accepted())
    assert len(per_address) == 40  # nothing lost
    assert sum(n - 1 for n in per_address.values()) <= claimed  # re-sent at most the claimed


def test_the_gateway_keeps_its_window_and_answers_in_order(fcm: FakeFCM) -> None:
    # Messages go out over several SDK apps, a few in flight on each: never more than the
    # window at once, and each verdict still belongs to its own message.
    window = FcmGateway(local_url=fcm.url, concurrency=8)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    pushes = [Push(f"tok-{n}", "token", "Hi", "There", {"n": str(n)}, "c", expires)
              for n in range(40)]  # fmt: skip
    fcm.inject(Fault(404, error_code="UNREGISTERED", token="tok-17"))
    fcm.state.latency_s = 0.05
    try:
        verdicts = window.send(pushes)
    finally:
        fcm.state.latency_s = 0.0
        window.close()
    assert len(window.apps) == 2
    assert [v.kind for v in verdicts] == ["sent"] * 17 + ["dead_token"] + ["sent"] * 22
    names = {r.message["data"]["n"]: r.name for r in fcm.received if r.status == 200}
    assert [v.message_name for v in verdicts if v.kind == "sent"] == [
        names[str(n)] for n in range(40) if n != 17
    ]
    assert 2 <= fcm.state.max_in_flight <= 8
