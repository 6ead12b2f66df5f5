"""`mallcast` as a user runs it: a real process on the embedded default, stopped by signals."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from runtime.embedded import ClusterState, EmbeddedPostgres
from tests.support.shipped import MALLCAST, env_for, free_port, run, serve_until_healthy

pytestmark = pytest.mark.slow  # processes of their own: not in the fast lane


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_the_demo_and_stops_cleanly(home: Path, stop_signal: signal.Signals) -> None:
    port = free_port()
    process = serve_until_healthy(home, port)
    cluster = EmbeddedPostgres(home)
    postmaster = cluster.running_pid()
    assert postmaster is not None

    key = (home / "operator.key").read_text().strip()
    malls = httpx.get(f"http://127.0.0.1:{port}/v1/malls",
                      headers={"Authorization": f"Bearer {key}"}).json()  # fmt: skip
    assert [m["name"] for m in malls] == ["Xixi Yintai City (ILC site 1)"]

    process.send_signal(stop_signal)
    output, _ = process.communicate(timeout=60)
    assert process.returncode in (0, 130, -stop_signal), output
    assert "embedded PostgreSQL stopped" in output
    assert cluster.status().state is ClusterState.STOPPED
    assert (
        not Path(f"/proc/{postmaster}").exists()
        or "Z" in Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1][:3]
    )


def api_workers(parent: int) -> list[int]:
    """The worker processes `serve --workers` spawned (not multiprocessing's helpers)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid) for pid in children
        if Path(f"/proc/{pid}").exists()
        and "spawn_main" in (cmd := Path(f"/proc/{pid}/cmdline").read_text())
        and "resource_tracker" not in cmd
    ]  # fmt: skip


def test_serve_with_workers_answers_and_stops_them_all(home: Path) -> None:
    port = free_port()
    process = serve_until_healthy(home, port, "--workers", "2")
    workers = api_workers(process.pid)
    assert len(workers) == 2
    key = (home / "operator.key").read_text().strip()
    base = f"http://127.0.0.1:{port}"
    for _ in range(20):  # a new connection each time: the kernel spreads them over the workers
        with httpx.Client() as client:
            answer = client.get(f"{base}/v1/malls", headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 200
    device = httpx.post(f"{base}/v1/devices", json={
        "platform": "android", "consents": {"location": True}}).json()  # fmt: skip
    shopper = {"Authorization": f"Bearer {device['token']}"}
    now = time.time()
    for i in range(12):  # far from any mall: counted as "outside", on whichever worker
        with httpx.Client() as client:
            answer = client.post(f"{base}/v1/pings", headers=shopper, json={"pings": [
                {"ts": now - 60 + i, "lon": 2.35, "lat": 48.85, "accuracy_m": 5}]})  # fmt: skip
            assert answer.status_code == 200, answer.text
    for _ in range(3):  # every worker's /metrics counts every worker's pings
        with httpx.Client() as client:
            metrics = client.get(f"{base}/metrics").text
        counted = [line for line in metrics.splitlines()
                   if line.startswith('mallcast_pings_total{result="outside"}')]  # fmt: skip
        assert counted == ['mallcast_pings_total{result="outside"} 12.0'], counted

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "embedded PostgreSQL stopped" in output
    assert not any(Path(f"/proc/{pid}/cmdline").exists() and
                   Path(f"/proc/{pid}/cmdline").read_text() for pid in workers)  # fmt: skip


def test_serve_reuses_the_cluster_and_the_demo_key(home: Path) -> None:
    first = serve_until_healthy(home, free_port())
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    key = (home / "operator.key").read_text()

    port = free_port()
    second = serve_until_healthy(home, port)
    try:
        assert (home / "operator.key").read_text() == key
        assert (home / "operator.key").stat().st_mode & 0o777 == 0o600
        malls = httpx.get(f"http://127.0.0.1:{port}/v1/malls",
                          headers={"Authorization": f"Bearer {key.strip()}"}).json()  # fmt: skip
        assert len(malls) == 1  # seeding again changed nothing
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)


def test_db_commands_and_keys(home: Path) -> None:
    assert run(home, "db", "status").returncode == 3  # absent
    started = run(home, "db", "start")
    assert started.returncode == 0, started.stderr
    status = run(home, "db", "status")
    assert status.returncode == 0
    assert status.stdout.startswith("running")
    url = run(home, "db", "url").stdout.strip()
    assert url.startswith("postgresql+psycopg://mallcast@/mallcast?host=")

    created = run(home, "keys", "create", "--role", "operator", "--label", "ops team")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("mc_")
    assert "every mall" in created.stderr
    listed = run(home, "keys", "list").stdout
    assert key.split("_")[1] in listed
    assert key.split("_", 2)[2] not in listed  # never the secret

    refused = run(home, "keys", "create", "--role", "tenant", "--tenant", "9")
    assert refused.returncode == 1
    assert "no tenant with id 9" in refused.stderr
    assert run(home, "keys", "revoke", key.split("_")[1]).returncode == 0
    assert "revoked" in run(home, "keys", "list").stdout

    checked = run(home, "migrate", "--check")
    assert (checked.returncode, "schema matches the models" in checked.stderr) == (0, True)

    assert run(home, "db", "stop").returncode == 0
    assert run(home, "db", "status").returncode == 3
    stopped = run(home, "keys", "list")  # keys are made on a running database
    assert stopped.returncode == 1
    assert "is not running: start it with `mallcast db start`" in stopped.stderr
    migrated = run(home, "migrate")  # starts the cluster it needs, and leaves it as it was
    assert (migrated.returncode, "schema is up to date" in migrated.stderr) == (0, True)
    assert run(home, "db", "status").returncode == 3


def test_a_port_that_cannot_be_is_refused_before_anything_starts(home: Path) -> None:
    refused = run(home, "serve", "--port", "99999")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--port" in refused.stderr
    assert not (home / "postgres").exists()  # no cluster made for a server that cannot listen


def test_a_setting_that_cannot_be_is_named_in_one_line(home: Path) -> None:
    refused = run(home, "serve", port="99999", push_ttl_s="hunter2")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.splitlines() == [
        "error: MALLCAST_PORT: Input should be less than or equal to 65535",
        "error: MALLCAST_PUSH_TTL_S: Input should be a valid number, unable to parse string as "
        "a number",
    ]  # named, never echoed (a setting may be a password), and no traceback
    assert run(home, "keys", "list", log_level="loud").returncode == 2


def test_missing_postgresql_is_one_clear_line(home: Path, tmp_path: Path) -> None:
    env = env_for(home) | {"MALLCAST_PG_BIN": str(tmp_path)}
    result = subprocess.run([MALLCAST, "serve"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "apt-get install postgresql-15" in lines[0]
