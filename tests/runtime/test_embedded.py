"""The embedded PostGIS launcher, driven for real: the same code `mallcast serve` runs."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import psycopg
import pytest

from runtime.embedded import ClusterState, EmbeddedPostgres
from runtime.pg_host import EmbeddedError, PgBinaries, check_postgis, find_binaries

pytestmark = pytest.mark.slow  # clusters of their own: not in the fast lane


def wait_gone(pid: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists():
        if "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]:
            return  # a zombie: dead, only not reaped
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.05)


def test_start_reuse_stop_restart_keeps_data(home: Path) -> None:
    cluster = EmbeddedPostgres(home, durable=False)
    assert cluster.status().state is ClusterState.ABSENT
    assert cluster.start() is True
    assert cluster.status().state is ClusterState.RUNNING
    assert cluster.start() is False  # already running: reused, and not ours to stop
    assert EmbeddedPostgres(home).status().state is ClusterState.RUNNING  # any process sees it

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)  # Unix socket only
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'postgis'").fetchone()
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (42)")

    assert cluster.stop() is True
    assert cluster.status().state is ClusterState.STOPPED
    assert cluster.stop() is False
    assert cluster.start() is True
    with psycopg.connect(cluster.conninfo()) as conn:
        assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
    cluster.stop()


def test_socket_directory_is_private(home: Path) -> None:
    cluster = EmbeddedPostgres(home, durable=False)
    cluster.start()
    assert cluster.socket_dir.stat().st_mode & 0o777 == 0o700
    assert cluster.data_dir.stat().st_mode & 0o777 == 0o700
    cluster.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to drop privileges")
def test_runs_as_an_unprivileged_user_when_root(home: Path) -> None:
    cluster = EmbeddedPostgres(home, durable=False)
    cluster.start()
    pid = cluster.running_pid()
    assert pid is not None
    uids = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[:2]
    assert uids[0] != "0"
    assert uids[0] == str(cluster.data_dir.stat().st_uid)
    cluster.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to drop privileges")
def test_home_the_postgres_user_cannot_reach_falls_back(tmp_path: Path) -> None:
    locked = tmp_path / "locked"  # pytest's tmp_path is mode 0700 under /tmp/pytest-of-root
    locked.mkdir(mode=0o700)
    cluster = EmbeddedPostgres(locked, durable=False)
    assert not cluster.cluster_dir.is_relative_to(locked)
    try:
        cluster.start()
        assert cluster.status().state is ClusterState.RUNNING
    finally:
        cluster.stop()
        shutil.rmtree(cluster.cluster_dir, ignore_errors=True)


def test_recovers_after_the_postmaster_was_killed(home: Path) -> None:
    cluster = EmbeddedPostgres(home, durable=False)
    cluster.start()
    pid = cluster.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # leaves postmaster.pid and the socket lock file behind
    wait_gone(pid)
    assert (cluster.data_dir / "postmaster.pid").exists()
    assert cluster.status().state is ClusterState.STOPPED
    assert cluster.start() is True
    with psycopg.connect(cluster.conninfo()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    cluster.stop()


def test_stale_pid_file_of_another_process_is_ignored(home: Path) -> None:
    cluster = EmbeddedPostgres(home, durable=False)
    cluster.start()
    cluster.stop()
    # After a reboot the pid in the file may belong to anything: here, to this test process.
    (cluster.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{cluster.data_dir}\n")
    assert cluster.status().state is ClusterState.STOPPED
    assert cluster.start() is True
    cluster.stop()


def test_missing_binaries_name_the_package(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedError) as caught:
        find_binaries(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "apt-get install postgresql-15" in message


def test_missing_postgis_names_the_package(tmp_path: Path) -> None:
    real = find_binaries()
    without = PgBinaries(bindir=real.bindir, major=real.major, sharedir=tmp_path)
    with pytest.raises(EmbeddedError) as caught:
        check_postgis(without)
    assert f"apt-get install postgresql-{real.major}-postgis-3" in str(caught.value)
    check_postgis(real)  # the real installation has it
