"""The embedded PostgreSQL killed under a running `mallcast serve` (the OOM killer, a crash):
the API answers 503 for a moment, then the cluster is started again and it answers as before,
with nothing committed lost. A cluster stopped on purpose stays stopped."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from runtime.embedded import EmbeddedPostgres
from tests.support.shipped import Server, run, wait_for

pytestmark = [pytest.mark.smoke, pytest.mark.slow]

MALL = [[10.0, 50.0], [10.01, 50.0], [10.01, 50.01], [10.0, 50.01], [10.0, 50.0]]


def healthy(server: Server) -> bool:
    return httpx.get(f"{server.base}/health", timeout=10).status_code == 200


def test_a_killed_database_comes_back_by_itself(home: Path) -> None:
    server = Server(home, embedded_watch_s="0.5").start()
    try:
        key = run(home, "keys", "create", "--role", "operator").stdout.strip()
        server.call("POST", "/v1/malls", key=key, expect=201, json={
            "name": "Before", "timezone": "UTC",
            "footprint": {"type": "Polygon", "coordinates": [MALL]}})  # fmt: skip
        cluster = EmbeddedPostgres(home)
        pid = cluster.running_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: cluster.running_pid() not in (None, pid), timeout_s=90)
        wait_for(lambda: healthy(server), timeout_s=60)
        malls = server.call("GET", "/v1/malls", key=key, expect=200).json()
        assert [m["name"] for m in malls] == ["Before"]  # committed before the crash: kept
        assert "embedded PostgreSQL died" in server.output()

        # Stopped on purpose (`mallcast db stop`): the watch leaves it so.
        assert run(home, "db", "stop").returncode == 0
        time.sleep(3)  # six looks of the watch
        assert cluster.running_pid() is None
        assert httpx.get(f"{server.base}/health", timeout=10).status_code == 503
    finally:
        server.stop()
