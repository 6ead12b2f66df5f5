"""The lifecycle as shipped: a cold `mallcast serve --demo`, a year of receipts imported with
`mallcast import purchases`, members placed by `mallcast lifecycle`, then over HTTP only the
figures, the thresholds, one member's view, a store's own figures; a `mallcast worker` reaching
out to a member who entered a segment, through FCM; and the revenue results."""

from __future__ import annotations

import csv
import re
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loyalty.csv_import import COLUMNS
from loyalty.synthetic import draw, receipts
from push.fcm_server import FakeFCM
from tests.support.shipped import Process, Server, free_port, run, wait_for

pytestmark = pytest.mark.slow
DAYS = 364


@pytest.fixture
def fcm() -> Iterator[FakeFCM]:
    with FakeFCM() as server:
        yield server


@pytest.fixture
def server(home: Path, fcm: FakeFCM) -> Iterator[Server]:
    shipped = Server(home, "--demo", dispatcher="false", scheduler="false",
                     fcm_url=fcm.url).start()  # fmt: skip
    yield shipped
    if shipped.alive():
        shipped.stop()


def a_year_of_receipts(path: Path, stores: list[int]) -> None:
    drawn = draw(300, DAYS, np.random.default_rng(4))
    start = datetime.now(UTC) - timedelta(days=DAYS + 1)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(receipts(drawn, stores, start))


def test_the_lifecycle_as_an_operator_a_store_and_a_member_meet_it(
    home: Path, server: Server, fcm: FakeFCM, tmp_path: Path
) -> None:
    operator = (home / "operator.key").read_text().strip()
    tenants = server.call("GET", "/v1/malls/1/tenants", key=operator, expect=200).json()
    starbucks = next(t["id"] for t in tenants if t["name"] == "STARBUCKS COFFEE")
    adidas = next(t["id"] for t in tenants if t["name"] == "adidas")
    history = tmp_path / "history.csv"
    a_year_of_receipts(history, [starbucks, adidas])
    assert run(home, "import", "purchases", str(history), "--mall", "1").returncode == 0

    placed = run(home, "lifecycle", "--mall", "1")
    assert placed.returncode == 0, placed.stderr
    assert re.search(r"mall 1: 300 members placed; model fitted on 300 members", placed.stderr)

    # The operator: figures by week, the thresholds, one member's whole story.
    since = (date.today() - timedelta(days=DAYS)).isoformat()
    figures = server.call("GET", "/v1/malls/1/lifecycle", key=operator, expect=200,
                          params={"since": since}).json()  # fmt: skip
    assert figures["now"]["members"] == 300
    assert sum(week["purchases"] for week in figures["weeks"]) > 300
    server.call("PUT", "/v1/malls/1/loyalty/rules", key=operator, expect=200,
                json={"mild_drop": 0.25, "severe_drop": 0.5})  # fmt: skip
    views = [server.call("POST", "/v1/malls/1/members/view", key=operator, expect=200,
                         json={"member_id": f"SM{i:08d}"}).json() for i in range(60)]  # fmt: skip
    assert all(view["timeline"] and view["standing"] for view in views)
    lapsed = next(i for i, view in enumerate(views)
                  if "lapsed_buyer" in view["standing"]["segments"])  # fmt: skip

    # The store: its own figures; no member's view.
    created = run(home, "keys", "create", "--role", "tenant", "--tenant", str(starbucks))
    shop = created.stdout.strip()
    own = server.call("GET", "/v1/tenant/lifecycle", key=shop, expect=200,
                      params={"since": since}).json()  # fmt: skip
    assert own["tenant_id"] == starbucks
    assert 0 < sum(w["purchases"] for w in own["weeks"]) < sum(
        w["purchases"] for w in figures["weeks"])  # fmt: skip
    server.call("POST", "/v1/malls/1/members/view", key=shop, expect=403,
                json={"member_id": "SM00000001"})  # fmt: skip

    # Outreach: the store's win-back offer for lapsed buyers, sent whenever (the send window is
    # the whole day here), to the lapsed member's phone.
    server.call("PUT", "/v1/malls/1/rules", key=operator, expect=200, json={
        "holdout_share": 0, "quiet_hours": None,
        "send_windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}]})  # fmt: skip
    offer = server.call("POST", "/v1/tenant/promotions", key=shop, expect=201, json={
        "title": "We kept a seat for you", "body": "10% off this week", "category": "cafe",
        "targets": {"mall": True}, "trigger": "segment",
        "audience": {"segments": ["lapsed_buyer"]}}).json()  # fmt: skip
    server.call("POST", f"/v1/tenant/promotions/{offer['id']}/submit", key=shop, expect=200)
    server.call("POST", f"/v1/malls/1/promotions/{offer['id']}/approve", key=operator,
                expect=200)  # fmt: skip
    token = f"lapsed-{uuid.uuid4().hex[:6]}"
    phone = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "android", "app_version": "1.0", "fcm_token": token,
        "consents": {"marketing_push": True, "loyalty": True}}).json()  # fmt: skip
    server.call("PUT", "/v1/devices/me/member", key=phone["token"], expect=200,
                json={"mall_id": 1, "member_id": f"sm{lapsed:08d}"})  # fmt: skip
    worker = Process(
        ("worker",),
        home,
        {"fcm_url": fcm.url, "outreach_s": "1", "worker_metrics_port": str(free_port())},
    ).start()
    try:
        pushed = wait_for(lambda: [r for r in fcm.accepted() if r.address == token], 180)
        assert pushed[0].message["notification"]["title"] == "We kept a seat for you"
    finally:
        assert worker.stop(signal.SIGINT) == 0, worker.output()
    assert "Traceback" not in worker.output(), worker.output()

    revenue: dict[str, Any] = server.call("GET", "/v1/malls/1/analytics/revenue", key=operator,
                                          expect=200).json()  # fmt: skip
    mine = next(p for p in revenue["promotions"] if p["id"] == offer["id"])
    assert mine["tiers"][0]["revenue"]["treated"] == 1
    assert server.call("GET", "/v1/tenant/results/revenue", key=shop, expect=200).json()[
        "tenant_id"] == starbucks  # fmt: skip
