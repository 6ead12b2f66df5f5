"""`mallcast demo` end to end: embedded PostGIS, the API, the local FCM server, shoppers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from api.embedded import ClusterState, EmbeddedPostgres
from tests.test_cli import MALLCAST, env_for, free_port


def test_demo_shows_notifications_and_ends_with_a_summary(home: Path) -> None:
    result = subprocess.run(
        [MALLCAST, "demo", "--shoppers", "6", "--minutes", "15", "--speedup", "90",
         "--port", str(free_port())],
        env=env_for(home), capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "notifications, as the phones show them" in output
    assert "operator's summary" in output
    counts = re.search(r"pushes sent / delivered\s*│\s*(\d+) / (\d+)", output)
    assert counts is not None
    sent, delivered = int(counts[1]), int(counts[2])
    assert sent > 0
    assert delivered == sent  # every push reached the local FCM server
    assert "top zones by footfall" in output
    assert EmbeddedPostgres(home).status().state is ClusterState.STOPPED


def test_simulate_drives_a_running_mallcast(home: Path) -> None:
    from tests.test_cli import serve_until_healthy

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
    assert "0 errors" in result.stdout
