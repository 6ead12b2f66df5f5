"""`mallcast demo` end to end: embedded PostGIS, the API, the local FCM server, shoppers."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from demo.run import SimClock, evening_start, what
from demo.seed import TIMEZONE
from runtime.embedded import ClusterState, EmbeddedPostgres
from tests.support.shipped import MALLCAST, Process, Server, env_for, free_port, wait_for

pytestmark = pytest.mark.slow  # processes of their own: not in the fast lane


def test_demo_shows_notifications_and_ends_with_a_summary(home: Path) -> None:
    result = subprocess.run(
        [MALLCAST, "demo", "--shoppers", "6", "--minutes", "15", "--speedup", "90",
         "--port", str(free_port())],
        env=env_for(home) | {"COLUMNS": "200"}, capture_output=True, text=True, timeout=240,
        check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "notifications, as the phones show them" in output
    # The live view: stores entered on a stop, with how sure and on how many fixes.
    assert re.search(r"enter [^│]+ \(\d+% sure, \d+ fixes\)", output), output[-3000:]
    assert "operator's summary" in output
    counts = re.search(r"pushes sent / delivered\s*│\s*(\d+) / (\d+)", output)
    assert counts is not None
    sent, delivered = int(counts[1]), int(counts[2])
    assert sent > 0
    assert delivered == sent  # every push reached the local FCM server
    assert "top zones by footfall" in output
    # Its own line, though the live view's last frame ends mid-line in a captured output.
    assert re.search(r"^\s*operator's summary\s*$", output, re.MULTILINE), output[-3000:]
    zones = re.findall(r"│ (.+?)\s+│ (\d+)\s+│ (.+?)\s+│",
                       output.split("top zones by footfall")[1])  # fmt: skip
    assert zones, output[-3000:]
    for _, _, dwell in zones:  # a visit not yet over has no dwell, not a dwell of 0 s
        assert dwell == "still in it" or float(dwell) > 0, zones
    assert EmbeddedPostgres(home).status().state is ClusterState.STOPPED


def test_simulate_drives_a_running_mallcast(home: Path) -> None:
    from tests.support.shipped import serve_until_healthy

    port = free_port()
    server = serve_until_healthy(home, port)
    try:
        result = subprocess.run(
            [MALLCAST, "simulate", "--url", f"http://127.0.0.1:{port}", "--shoppers", "20",
             "--rate", "60", "--seconds", "6"],
            env=env_for(home), capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        server.terminate()
        server.communicate(timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = re.search(r"([\d,]+) pings in ([\d,]+) requests", result.stdout)
    assert counts is not None
    assert int(counts[1].replace(",", "")) > 0
    assert "0 errors, 0 pings rejected" in result.stdout


@pytest.mark.parametrize("minutes", [0, 30, 120])
def test_the_simulated_evening_is_past_and_within_the_ping_horizon(minutes: int) -> None:
    day = datetime(2026, 11, 24, tzinfo=ZoneInfo(TIMEZONE))
    evenings = 0
    for step in range(0, 24 * 60, 7):  # whatever the time of day
        now = (day + timedelta(minutes=step)).timestamp()
        start = evening_start(minutes, now)
        assert start + minutes * 60 <= now  # no ping from the future
        assert start >= now - 86_400 + 600  # none too old to be accepted
        local = datetime.fromtimestamp(start, ZoneInfo(TIMEZONE))
        evenings += (17, 30) <= (local.hour, local.minute) <= (20, 0)
    assert evenings / (24 * 60 / 7) > 0.95  # an evening in the mall, but for long runs


def test_the_demo_clock_runs_faster_and_stops_at_the_end() -> None:
    clock = SimClock(start=1000.0, end=1000.0 + 1800, speedup=30)
    assert clock.advance(10) == 1300.0
    assert clock.advance(5) == 1300.0  # never backwards
    assert clock.advance(600) == 2800.0
    assert clock.time() == 2800.0
    clock.running = False
    assert clock.time() > 1.7e9  # the wall clock once the simulation is over


def test_without_minutes_the_demo_goes_on_serving_until_sigint(home: Path) -> None:
    # Started as CI and process managers start it: SIGINT ignored by inheritance, so only a
    # handler of its own can honour `kill -INT`. Output to a file: a full pipe would stall it.
    demo = Server(home, "--shoppers", "4", "--speedup", "600", command="demo",
                  sigint_ignored=True)  # fmt: skip
    Process.start(demo)
    try:
        deadline = time.monotonic() + 180  # 60 simulated minutes at 600x: about six seconds
        while "goes on serving" not in demo.output() and time.monotonic() < deadline:
            assert demo.alive(), demo.output()[-3000:]
            time.sleep(0.2)
        assert "operator's summary" in demo.output(), demo.output()[-3000:]
        key = (home / "operator.key").read_text().strip()
        analytics = demo.call("GET", "/v1/malls/1/analytics", key=key, expect=200).json()
        total = analytics["total"]
        assert total["sent"] + total["held_out"] > 0  # the simulated evening is there
        # A year of loyalty receipts came with it, and the lifecycle job placed the members.
        lifecycle = wait_for(lambda: demo.call("GET", "/v1/malls/1/lifecycle", key=key,
                                               expect=200).json()["now"], 240)  # fmt: skip
        assert lifecycle["members"] == 2000
        assert lifecycle["model"]["members_fitted"] == 2000
        # It ends with the console's address and sign-ins that work there.
        tail = demo.output().split("goes on serving", 1)[1]
        assert f"console: {demo.base}/console/" in tail
        email, password = re.findall(r"operator: (\S+)\s+password (\S+)", tail)[0]
        page = demo.call("GET", "/console/sign-in")
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert token
        signed = demo.call("POST", "/console/sign-in", expect=303, data={"email": email,
                           "password": password, "form_token": token[1]})  # fmt: skip
        assert signed.headers["location"] == "/console/"
        assert "Xixi Yintai City" in demo.call("GET", "/console/malls", expect=200).text
        assert demo.alive()
    finally:
        code = demo.stop(signal.SIGINT, timeout_s=30)
    assert code == 0, demo.output()[-3000:]
    assert EmbeddedPostgres(home).status().state is ClusterState.STOPPED


def test_the_live_view_says_how_sure_a_store_enter_is() -> None:
    store = {"kind": "enter", "subject": "zone", "zone_name": "ZARA", "confidence": 0.934,
             "evidence_fixes": 6}  # fmt: skip
    assert what(store) == "enter ZARA (93% sure, 6 fixes)"
    corridor = {"kind": "enter", "subject": "zone", "zone_name": "Atrium", "confidence": None}
    assert what(corridor) == "enter Atrium"
    assert what({"kind": "exit", "subject": "mall", "zone_name": None}) == "exit the mall"
