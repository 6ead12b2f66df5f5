"""Presence as shipped: a shopper standing in a store, against `mallcast serve` started cold,
killed with SIGKILL in the middle of the stop and started again. Over HTTP only.

Two stores share a wall; the shopper stands a metre and a half from it, fixes off by a metre or
two: one store is entered, once, with its confidence; its neighbour never.
"""

from __future__ import annotations

import math
import random
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.shipped import Server, run

pytestmark = [pytest.mark.smoke, pytest.mark.slow]

MALL = [[10.0, 50.0], [10.01, 50.0], [10.01, 50.01], [10.0, 50.01], [10.0, 50.0]]
KX = 111_320 * math.cos(math.radians(50.001))  # metres per degree of longitude here
KY = 111_320.0


def box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """A rectangle given in metres east and north of (10.001, 50.001)."""
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    ring = [[10.001 + x / KX, 50.001 + y / KY] for x, y in corners]
    return {"type": "Polygon", "coordinates": [ring]}


def test_a_stop_survives_a_killed_server_and_enters_its_store_once(home: Path) -> None:
    server = Server(home, dispatcher="false").start()
    created = run(home, "keys", "create", "--role", "operator")
    operator = re.findall(r"mc_[A-Za-z0-9_-]+", created.stdout)[-1]
    mall = server.call("POST", "/v1/malls", key=operator, expect=201, json={
        "name": "Wall Mall", "timezone": "UTC",
        "footprint": {"type": "Polygon", "coordinates": [MALL]}}).json()  # fmt: skip
    base = f"/v1/malls/{mall['id']}"
    server.call("POST", f"{base}/levels", key=operator, expect=201, json={"ordinal": 0,
                "name": "G"})  # fmt: skip
    ids = {}
    for name, geometry in (("Coffee", box(0, 0, 10, 8)), ("Books", box(10, 0, 20, 8))):
        zone = server.call("POST", f"{base}/zones", key=operator, expect=201, json={
            "type": "Feature", "geometry": geometry,
            "properties": {"name": name, "kind": "store", "level": 0}}).json()  # fmt: skip
        assert zone["properties"]["occupancy"] == "unit"
        ids[name] = zone["id"]
    device = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "android", "app_version": "1.0", "consents": {"location": True}},
    ).json()  # fmt: skip

    # Standing 1.5 m from the shared wall, on Coffee's side, for three minutes.
    rng = random.Random(13)
    start = time.time() - 400
    pings = [
        {"ts": start + 6 * i, "lon": 10.001 + (8.5 + rng.gauss(0, 1.5)) / KX,
         "lat": 50.001 + (4 + rng.gauss(0, 1.5)) / KY, "accuracy_m": 4, "level": 0}
        for i in range(30)
    ]  # fmt: skip
    events = _post(server, device["token"], pings[:2])  # the stop has begun, nothing decided
    assert [(e["subject"], e["kind"]) for e in events] == [("mall", "enter")]

    server.stop(signal.SIGKILL)  # no shutdown: what is committed is all there is
    server = Server(home, dispatcher="false").start()
    try:
        for part in (pings[2:8], pings[8:20], pings[8:20], pings[20:]):  # one batch retried
            events += _post(server, device["token"], part)
    finally:
        server.stop()
    stores = [(e["zone_id"], e["kind"]) for e in events if e["subject"] == "zone"]
    assert [s for s in stores if s[1] == "enter"] == [(ids["Coffee"], "enter")], events
    assert all(zone == ids["Coffee"] for zone, _ in stores)  # Books: never
    enter = next(e for e in events if e["subject"] == "zone" and e["kind"] == "enter")
    assert enter["confidence"] >= 0.9
    assert enter["evidence_fixes"] >= 3


def _post(server: Server, token: str, pings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = server.call("POST", "/v1/pings", key=token, expect=200, json={"pings": pings})
    return answer.json()["events"]  # type: ignore[no-any-return]
