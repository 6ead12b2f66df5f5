"""Each role's first hour against a cold `mallcast serve` (no demo), over HTTP only.

The server and the worker are processes of their own, started from the installed `mallcast`
command on a fresh MALLCAST_HOME: what a user runs, with nothing of this process imported
into theirs. Every call fails the test on a 5xx (`Server.call`).
"""

from __future__ import annotations

import base64
import json
import random
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely.geometry

from push.fcm_server import FakeFCM
from tests.support.ilc import mall_body
from tests.support.imdf import archive, ilc_imdf_files
from tests.support.shipped import Process, Server, free_port, run, wait_for

pytestmark = [pytest.mark.smoke, pytest.mark.slow]

# A floor of the real mall as its makers wrote it (the demo's copy of ../shared/data/ilc-site1).
RAW_F1 = Path(__file__).parents[2] / "demo" / "ilc_site1" / "floors" / "F1.geojson"

# A 1 km square near the null island's neighbour: any mall will do, the server knows none.
MALL = [[10.0, 50.0], [10.01, 50.0], [10.01, 50.01], [10.0, 50.01], [10.0, 50.0]]


def square(lon: float, lat: float, side: float = 0.0002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(name: str, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"name": name, **properties}, "geometry": geometry}


@pytest.fixture
def fcm() -> Iterator[FakeFCM]:
    with FakeFCM() as server:
        yield server


@pytest.fixture
def server(home: Path, fcm: FakeFCM) -> Iterator[Server]:
    # The API alone: pushes are the worker's job here, as in a deployment that scales them apart.
    # At the level users run it (info), so that what it logs is tested too.
    shipped = Server(home, dispatcher="false", fcm_url=fcm.url, log_level="info").start()
    yield shipped
    if shipped.alive():
        shipped.stop()


def key(home: Path, *args: str) -> str:
    created = run(home, "keys", "create", *args)
    assert created.returncode == 0, created.stdout + created.stderr
    found = re.findall(r"mc_[A-Za-z0-9_-]+", created.stdout)
    assert found, created.stdout
    return str(found[-1])


def test_every_role_s_first_hour_on_a_cold_server(home: Path, server: Server, fcm: FakeFCM) -> None:
    operator = key(home, "--role", "operator")
    # An uptime check's HEAD, as a load balancer or `curl -I` sends it.
    checked = server.client.head("/health")
    assert (checked.status_code, checked.content) == (200, b""), checked.headers

    # The operator: a mall, its floors, a store, zones one by one and by import.
    mall = server.call("POST", "/v1/malls", key=operator, expect=201, json={
        "name": "Smoke Mall", "timezone": "UTC",
        "footprint": {"type": "Polygon", "coordinates": [MALL]}}).json()  # fmt: skip
    base = f"/v1/malls/{mall['id']}"
    for ordinal, name in ((0, "G"), (1, "L1")):
        server.call("POST", f"{base}/levels", key=operator, expect=201,
                    json={"ordinal": ordinal, "name": name})  # fmt: skip
    tenant = server.call("POST", f"{base}/tenants", key=operator, expect=201,
                         json={"name": "Smoke Coffee", "category": "cafe"}).json()  # fmt: skip
    store = server.call("POST", f"{base}/zones", key=operator, expect=201, json=feature(
        "Smoke Coffee", square(10.001, 50.001), kind="store", level=0,
        tenant=tenant["id"])).json()  # fmt: skip
    plan = {"type": "FeatureCollection", "features": [
        feature("Corridor", square(10.002, 50.002, 0.001), kind="corridor", ref="c-1"),
        feature("Books", square(10.004, 50.004), kind="store", ref="s-2"),
    ]}  # fmt: skip
    checked = server.call("POST", f"{base}/zones/import?level=1&dry_run=true", key=operator,
                          expect=200, json=plan).json()  # fmt: skip
    assert checked["dry_run"] is True
    imported = server.call("POST", f"{base}/zones/import?level=1", key=operator, expect=200,
                           json=plan).json()  # fmt: skip
    assert (imported["created"], len(imported["zone_ids"])) == (2, 2), imported
    # One zone created by hand with a ref the plan holds: refused, the plan's zone kept.
    clash = server.call("POST", f"{base}/zones", key=operator, expect=409, json=feature(
        "Books 2", square(10.006, 50.006), kind="store", level=1, ref="s-2")).json()  # fmt: skip
    assert clash["error"]["details"]["zone_id"] == imported["zone_ids"][1]
    exported = server.call("GET", f"{base}/zones?level=1", key=operator, expect=200).json()
    assert {f["properties"]["name"] for f in exported["features"]} == {"Corridor", "Books"}
    misspelt = server.call("GET", f"{base}/zones?level=1&kinds=store", key=operator, expect=422)
    assert misspelt.json()["error"]["code"] == "unknown_parameter"
    server.call("PATCH", f"{base}/zones/{store['id']}", key=operator, expect=200,
                json={"properties": {"dwell_seconds": 120}})  # fmt: skip
    server.call("PUT", f"{base}/rules", key=operator, expect=200, json={
        "quiet_hours": None, "holdout_share": 0, "min_gap_minutes": 0})  # fmt: skip

    # The tenant, with a key the operator made on the command line: an offer for the store.
    shop = key(home, "--role", "tenant", "--tenant", str(tenant["id"]))
    me = server.call("GET", "/v1/tenant/me", key=shop, expect=200).json()
    assert me["tenant_id"] == tenant["id"]
    promotion = server.call("POST", "/v1/tenant/promotions", key=shop, expect=201, json={
        "title": "Two coffees, one price", "body": "Show this at the till", "category": "cafe",
        "targets": {"zones": [store["id"]]}, "trigger": "enter"}).json()  # fmt: skip
    server.call("POST", f"/v1/tenant/promotions/{promotion['id']}/submit", key=shop, expect=200)

    # The operator approves what waits for approval.
    waiting = server.call("GET", f"{base}/promotions?status=submitted", key=operator,
                          expect=200).json()  # fmt: skip
    assert [p["id"] for p in waiting] == [promotion["id"]]
    server.call(
        "POST",
        f"{base}/promotions/{promotion['id']}/approve",
        key=operator,
        expect=200,
        headers={"If-Match": f'"{waiting[0]["version"]}"'},
    )  # what the operator read

    # The worker delivers pushes, beside the API.
    worker = Process(
        ("worker",),
        home,
        {"fcm_url": fcm.url, "scheduler": "false", "worker_metrics_port": str(free_port())},
    ).start()
    try:
        # A shopper's app: register with consents, walk into the store.
        device = server.call("POST", "/v1/devices", expect=201, json={
            "platform": "android", "app_version": "1.0", "fcm_token": "smoke-token",
            "consents": {"location": True, "marketing_push": True}}).json()  # fmt: skip
        now = time.time()
        lon, lat = 10.0011, 50.0011
        pings = server.call(
            "POST",
            "/v1/pings",
            key=device["token"],
            expect=200,
            json={
                "pings": [
                    {"ts": now - 40 + 6 * i, "lon": lon, "lat": lat, "accuracy_m": 3, "level": 0}
                    for i in range(6)
                ]
            },
        ).json()  # half a minute in the store
        enter = next(e for e in pings["events"]
                     if e["kind"] == "enter" and e["zone_id"] == store["id"])  # fmt: skip
        assert enter["decision"]["outcome"] == "sent", enter
        pushed = wait_for(lambda: [r for r in fcm.accepted() if r.address == "smoke-token"])
        assert pushed[0].message["notification"]["title"] == "Two coffees, one price"
        # The app, its storage cleared, registers again with the phone's token: the token
        # moves to the new record (one push per phone, not one per record).
        again = server.call("POST", "/v1/devices", expect=201, json={
            "platform": "android", "fcm_token": "smoke-token"}).json()  # fmt: skip
        assert again["device"]["has_fcm_token"] is True
        first = server.call("GET", "/v1/devices/me", key=device["token"], expect=200).json()
        assert first["has_fcm_token"] is False

        metrics = httpx.get(f"http://127.0.0.1:{worker.settings['worker_metrics_port']}/metrics")
        assert metrics.status_code == 200
        assert 'mallcast_deliveries_total{outcome="sent"}' in metrics.text
    finally:
        assert worker.stop(signal.SIGINT) == 0, worker.output()
    assert "Traceback" not in worker.output(), worker.output()

    # A phone that was without signal in the mall uploads its walk two hours on: too late for
    # an offer in the store (pushed now it would follow the shopper home).
    offline = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "android", "fcm_token": "offline-token",
        "consents": {"location": True, "marketing_push": True}}).json()  # fmt: skip
    then = time.time() - 2 * 3600
    late = server.call("POST", "/v1/pings", key=offline["token"], expect=200, json={"pings": [
        {"ts": then + 6 * i, "lon": lon, "lat": lat, "accuracy_m": 3, "level": 0}
        for i in range(6)]}).json()  # fmt: skip
    enter = next(e for e in late["events"] if e["kind"] == "enter" and e["zone_id"] == store["id"])
    assert (enter["decision"]["outcome"], enter["decision"]["reason"]) == ("none", "late_event")
    # A phone whose clock runs half an hour slow says when it sent: its visit is live.
    slow = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "ios", "fcm_token": "slow-token",
        "consents": {"location": True, "marketing_push": True}}).json()  # fmt: skip
    behind = time.time() - 1800
    live = server.call("POST", "/v1/pings", key=slow["token"], expect=200, json={
        "sent_at": behind, "pings": [
            {"ts": behind - 40 + 6 * i, "lon": lon, "lat": lat, "accuracy_m": 3, "level": 0}
            for i in range(6)]}).json()  # fmt: skip
    assert live["clock_offset_s"] == pytest.approx(1800, abs=5)
    enter = next(e for e in live["events"] if e["kind"] == "enter" and e["zone_id"] == store["id"])
    assert enter["decision"]["outcome"] == "sent", enter

    # The shopper opens and redeems it; OwnTracks speaks for a second phone.
    server.call("POST", f"/v1/offers/{promotion['id']}/opened", key=device["token"], expect=200)
    server.call("POST", f"/v1/offers/{promotion['id']}/redeemed", key=device["token"],
                expect=200)  # fmt: skip
    phone = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "ios", "consents": {"location": True}}).json()  # fmt: skip
    basic = base64.b64encode(f"{phone['device_id']}:{phone['token']}".encode()).decode()
    owntracks = server.call("POST", "/owntracks", expect=200, headers={
        "Authorization": f"Basic {basic}"}, content=json.dumps({
        "_type": "location", "lat": 50.0051, "lon": 10.0051, "tst": int(time.time()),
        "acc": 5}))  # fmt: skip
    assert isinstance(owntracks.json(), list)

    # Results: the operator's and the tenant's.
    analytics = server.call("GET", f"{base}/analytics", key=operator, expect=200).json()
    assert json.dumps(analytics)  # a body, not an error
    decisions = server.call("GET", f"{base}/decisions?device_id={device['device_id']}",
                            key=operator, expect=200).json()  # fmt: skip
    assert any(d["outcome"] == "sent" for d in decisions), decisions
    server.call("GET", f"{base}/analytics/daily", key=operator, expect=200)
    server.call("GET", f"{base}/segments", key=operator, expect=200)
    server.call("GET", "/v1/tenant/results", key=shop, expect=200)
    assert "mallcast_pings_total" in server.call("GET", "/metrics", expect=200).text

    # The till sends a sale and its return; a second return of it would give back too much.
    sale = {"txn_id": "S-1", "member_id": "M-SMOKE-7", "amount": "18.00", "currency": "EUR",
            "items": 1, "at": datetime.now(UTC).isoformat()}  # fmt: skip
    back = sale | {"txn_id": "S-1-R", "refund_of": "S-1"}
    stored = server.call("POST", "/v1/tenant/purchases", key=shop, expect=200,
                         json={"purchases": [sale, back]}).json()  # fmt: skip
    assert (stored["stored"], stored["refunds"]) == (2, 1), stored
    again = server.call("POST", "/v1/tenant/purchases", key=shop, expect=422, json={
        "purchases": [back | {"txn_id": "S-1-R2", "amount": "0.01"}]})  # fmt: skip
    assert again.json()["error"]["code"] == "refund_exceeds_purchase"

    assert server.stop(signal.SIGINT) == 0, server.output()
    assert "Traceback" not in server.output(), server.output()
    assert "Running job" not in server.output()  # APScheduler's line for every run of every job
    for personal in (device["device_id"], device["token"], phone["device_id"], "M-SMOKE-7"):
        assert personal not in server.output()


def test_a_plan_as_its_makers_wrote_it_on_a_cold_server(home: Path, server: Server) -> None:
    # An operator's real floor plan, straight from the file: the floor's outline first (here
    # said to be a store, as a converter that calls everything a store would write it), then
    # units with no kind. It imports, says what to look at again, and a shopper standing in a
    # store is placed in that store, not in the outline around it.
    operator = key(home, "--role", "operator")
    plan = json.loads(RAW_F1.read_text())
    outline, *units = plan["features"]
    outline["properties"]["kind"] = "store"
    mall = server.call("POST", "/v1/malls", key=operator, expect=201, json={
        "name": "Xixi Yintai City", "timezone": "Asia/Shanghai",
        "footprint": shapely.geometry.mapping(shapely.geometry.shape(outline["geometry"])
                                              .buffer(0.0003).convex_hull)}).json()  # fmt: skip
    base = f"/v1/malls/{mall['id']}"
    server.call("POST", f"{base}/levels", key=operator, expect=201,
                json={"ordinal": 0, "name": "F1"})  # fmt: skip
    imported = server.call("POST", f"{base}/zones/import?level=0", key=operator, expect=200,
                           json=plan).json()  # fmt: skip
    codes = {(w["index"], w["code"]) for w in imported["warnings"]}
    assert (0, "unit_holds_units") in codes
    assert {(i, "kind_not_given") for i in range(1, len(units) + 1)} <= codes
    # Its makers' id for restaurants, given once, makes its restaurants restaurants.
    eatery = "5d35733bdb07255e495599ac"
    named = server.call(
        "POST",
        f"{base}/zones/import?level=0&replace=true&dry_run=true",
        key=operator,
        expect=200,
        json=plan | {"categories": {eatery: "restaurant"}},
    ).json()
    unnamed = {w["index"] for w in named["warnings"] if w["code"] == "kind_not_given"}
    eateries = {i for i, unit in enumerate(units, 1)
                if eatery in unit["properties"]["category"]}  # fmt: skip
    assert len(eateries) == 7
    assert unnamed == set(range(1, len(units) + 1)) - eateries
    ids = dict(zip(range(len(plan["features"])), imported["zone_ids"], strict=True))
    starbucks = next(i for i, unit in enumerate(units, 1)
                     if unit["properties"]["name"] == "STARBUCKS COFFEE")  # fmt: skip
    spot = shapely.geometry.shape(units[starbucks - 1]["geometry"]).representative_point()

    device = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "android", "consents": {"location": True}}).json()  # fmt: skip
    noise, now = random.Random(7), time.time() - 300
    metres = 1 / 111_000  # degrees of latitude per metre; longitude's differ little here
    pings = [{"ts": now + 5 * i, "lon": spot.x + noise.gauss(0, 2) * metres,
              "lat": spot.y + noise.gauss(0, 2) * metres, "accuracy_m": 5, "level": 0}
             for i in range(36)]  # three minutes in the store, fixes off by 2 m  # fmt: skip
    events = server.call("POST", "/v1/pings", key=device["token"], expect=200,
                         json={"pings": pings}).json()["events"]  # fmt: skip
    unit_ids = set(imported["zone_ids"])
    entered = [e["zone_id"] for e in events if e["kind"] == "enter" and e["zone_id"] in unit_ids]
    assert entered[-1:] == [ids[starbucks]], events
    inside = 0
    for event in (e for e in events if e["zone_id"] in unit_ids and e["kind"] != "dwell"):
        inside += 1 if event["kind"] == "enter" else -1
        assert inside in (0, 1), events  # one unit at a time, the outline included
    # The operator reads the enter back, with how sure it was and on what evidence.
    listed = server.call("GET", f"{base}/zone-events", key=operator, expect=200,
                         params={"zone_id": ids[starbucks], "kind": "enter"}).json()  # fmt: skip
    [enter] = listed["events"]
    assert enter["device_id"] == device["device_id"]
    assert 0.9 <= enter["confidence"] <= 1
    assert enter["evidence_fixes"] >= 3


def test_an_operator_s_two_tabs_and_an_app_s_retries_at_once_on_a_cold_server(
    home: Path, server: Server
) -> None:
    # Concurrent clients are inputs too: changes to one row at once, and a change racing the
    # row's deletion, each answered as if it had come first or after (never a 5xx, which
    # `Server.call` fails on), and every change to the floor plan told to the replicas.
    operator = key(home, "--role", "operator")
    mall = server.call("POST", "/v1/malls", key=operator, expect=201, json={
        "name": "Busy Mall", "timezone": "UTC",
        "footprint": {"type": "Polygon", "coordinates": [MALL]}}).json()  # fmt: skip
    base = f"/v1/malls/{mall['id']}"
    server.call(
        "POST", f"{base}/levels", key=operator, expect=201, json={"ordinal": 0, "name": "G"}
    )

    def at_once(*calls: tuple[str, str, dict[str, Any]]) -> list[int]:
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = pool.map(lambda c: server.call(c[0], c[1], **c[2]).status_code, calls)
            return list(answers)

    version = server.call("GET", base, key=operator).json()["zones_version"]
    changes = 0
    for round_ in range(6):
        zone = server.call("POST", f"{base}/zones", key=operator, expect=201, json=feature(
            f"Kiosk {round_}", square(10.001 + 0.0003 * round_, 50.001), kind="store",
            level=0)).json()  # fmt: skip
        url = f"{base}/zones/{zone['id']}"
        patch = ("PATCH", url, {"key": operator, "json": {"properties": {"dwell_seconds": 90}}})
        answers = at_once(patch, patch, ("DELETE", url, {"key": operator}), patch)
        assert answers[2] == 204, answers
        assert set(answers) <= {200, 204, 404}, answers
        server.call("GET", url, key=operator, expect=404)
        renames = at_once(*[("PATCH", f"{base}/levels/0",
                             {"key": operator, "json": {"name": f"G{round_}-{i}"}})
                            for i in range(3)])  # fmt: skip
        assert renames == [200, 200, 200], renames
        changes += 1 + answers.count(200) + 1 + 3  # create, patches, delete, renames

        consents = {"location": True, "loyalty": True}
        device = server.call("POST", "/v1/devices", expect=201, json={
            "platform": "android", "consents": consents}).json()  # fmt: skip
        app = {"key": device["token"]}
        answers = at_once(
            ("PATCH", "/v1/devices/me", app | {"json": {"locale": "en-GB"}}),
            ("PUT", "/v1/devices/me/member", app | {"json": {"mall_id": mall["id"],
                                                           "member_id": f"M-{round_}"}}),
            ("DELETE", "/v1/devices/me", app),
            ("PATCH", "/v1/devices/me", app | {"json": {"consents": {"loyalty": False}}}),
        )  # fmt: skip
        assert answers[2] == 204, answers
        # 401 after the erasure; 403 for a link after the consent was withdrawn.
        assert set(answers) <= {200, 204, 401, 403}, answers
        server.call("GET", "/v1/devices/me", key=device["token"], expect=401)
    # Not one change lost: a replica that has seen the last version has seen them all.
    assert server.call("GET", base, key=operator).json()["zones_version"] == version + changes


def test_an_imdf_archive_from_a_mapping_tool_on_a_cold_server(home: Path, server: Server) -> None:
    # The real mall as a venue-mapping tool exports it, sent as the file it is: its floors
    # and units arrive, and a shopper standing in one of its shops is in that shop.
    operator = key(home, "--role", "operator")
    mall = server.call("POST", "/v1/malls", key=operator, expect=201, json=mall_body()).json()
    base = f"/v1/malls/{mall['id']}"
    body = archive(ilc_imdf_files())
    zipped = {"Content-Type": "application/zip"}
    imported = server.call("POST", f"{base}/zones/import", key=operator, expect=200,
                           content=body, headers=zipped).json()  # fmt: skip
    assert imported["levels_created"] == [-1, 0, 1, 2, 3]
    levels = server.call("GET", f"{base}/levels", key=operator, expect=200).json()
    assert [level["name"] for level in levels] == ["B1", "F1", "F2", "F3", "F4"]
    shops = server.call("GET", f"{base}/zones?level=0&kind=store", key=operator).json()["features"]
    adidas = next(f for f in shops if f["properties"]["name"] == "adidas")
    spot = shapely.geometry.shape(adidas["geometry"]).representative_point()

    device = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "ios", "consents": {"location": True}}).json()  # fmt: skip
    now = time.time() - 120
    pings = [{"ts": now + 6 * i, "lon": spot.x, "lat": spot.y, "accuracy_m": 4, "level": 0}
             for i in range(12)]  # fmt: skip
    events = server.call("POST", "/v1/pings", key=device["token"], expect=200,
                         json={"pings": pings}).json()["events"]  # fmt: skip
    assert adidas["id"] in [e["zone_id"] for e in events if e["kind"] == "enter"], events
