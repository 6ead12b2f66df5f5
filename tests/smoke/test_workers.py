"""`mallcast serve --workers 2` keeps its API processes alive: a killed one is replaced."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.shipped import Server

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


def api_workers(parent: int) -> set[int]:
    """The API processes `serve --workers` spawned (not multiprocessing's helpers)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    found = set()
    for pid in children:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_text()
        except FileNotFoundError:
            continue
        if "spawn_main" in command and "resource_tracker" not in command:
            found.add(int(pid))
    return found


def test_a_killed_api_process_is_replaced_and_the_service_goes_on(home: Path) -> None:
    server = Server(home, "--workers", "2", log_level="info").start()
    try:
        deadline = time.monotonic() + 60
        while len(before := api_workers(server.pid)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        while True:
            now = api_workers(server.pid)
            if len(now) == 2 and victim not in now:
                break
            assert server.alive(), server.output()[-2000:]
            assert time.monotonic() < deadline, (before, now)
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while True:  # the new process is listening once it answers; then all of them do
            try:
                if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        for n in range(20):  # fresh connections: the kernel spreads them over both
            with httpx.Client() as client:
                assert client.get(f"{server.base}/health?probe={n}").status_code == 200
        assert "starting another" in server.output()
        # Each process logs its requests without the client's address or the query string.
        assert '"GET /health HTTP/1.1" 200' in server.output()
        assert "probe=" not in server.output()
        assert not re.search(r'127\.0\.0\.1:\d+ - "GET', server.output())
    finally:
        code = server.stop(signal.SIGTERM)
    assert code in (0, -signal.SIGTERM), server.output()[-2000:]
