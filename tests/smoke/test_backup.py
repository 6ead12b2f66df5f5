"""Backing up a running mall and restoring it elsewhere, with the commands an SRE types."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runtime.embedded import EmbeddedPostgres
from tests.conftest import mallcast_home
from tests.smoke.test_first_hour import MALL, feature, key, square
from tests.support.shipped import Server, free_port, run

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


def said(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


@pytest.fixture
def elsewhere() -> Iterator[Path]:
    """A second MALLCAST_HOME: the machine the backup is restored on."""
    with mallcast_home("mallcast-restore-") as path:
        yield path


def a_mall(home: Path) -> tuple[Server, str, dict[str, Any]]:
    """A cold server on `home`, an operator's key, and a mall."""
    server = Server(home).start()
    operator = key(home, "--role", "operator")
    mall = server.call("POST", "/v1/malls", key=operator, expect=201, json={
        "name": "Backed-up Mall", "timezone": "UTC",
        "footprint": {"type": "Polygon", "coordinates": [MALL]}}).json()  # fmt: skip
    return server, operator, mall


def from_a_newer_version(home: Path, target: Path) -> Path:
    """A backup of `home` whose schema names a migration this version does not have."""
    cluster = EmbeddedPostgres(home)
    cluster.start()
    try:
        with psycopg.connect(cluster.conninfo()) as conn:
            conn.execute("UPDATE alembic_version SET version_num = 'f00dfeedf00d'")
        made = run(home, "db", "backup", str(target))
        assert made.returncode == 0, said(made)
        with psycopg.connect(cluster.conninfo()) as conn:  # the home itself stays as it was
            conn.execute("UPDATE alembic_version SET version_num = %s", (head(),))
    finally:
        cluster.stop()
    return target


def head() -> str:
    from alembic.script import ScriptDirectory

    from runtime.migrate import alembic_config

    revision = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert revision is not None
    return revision


def test_a_backup_of_a_running_mall_restores_whole_on_another_home(
    home: Path, elsewhere: Path, tmp_path: Path
) -> None:
    server, operator, mall = a_mall(home)
    base = f"/v1/malls/{mall['id']}"
    server.call(
        "POST", f"{base}/levels", key=operator, expect=201, json={"ordinal": 0, "name": "G"}
    )
    store = server.call("POST", f"{base}/zones", key=operator, expect=201, json=feature(
        "Books", square(10.001, 50.001), kind="store", level=0)).json()  # fmt: skip
    device = server.call("POST", "/v1/devices", expect=201, json={
        "platform": "android", "consents": {"location": True}}).json()  # fmt: skip
    start = time.time() - 60

    def stand(first: int, last: int) -> list[dict[str, Any]]:
        """Fixes every 6 s, in the store; returns the store's events."""
        answer = server.call("POST", "/v1/pings", key=device["token"], expect=200, json={"pings": [
            {"ts": start + 6 * i, "lon": 10.0011, "lat": 50.0011, "accuracy_m": 3, "level": 0}
            for i in range(first, last)]}).json()  # fmt: skip
        return [e for e in answer["events"] if e["zone_id"] == store["id"]]

    assert [e["kind"] for e in stand(0, 6)] == ["enter"]

    dump = tmp_path / "mall.dump"
    made = run(home, "db", "backup", str(dump))  # while the server runs
    assert made.returncode == 0, made.stdout + made.stderr
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600  # personal data: its owner's only
    nightly = tmp_path / "nightly"
    nightly.mkdir()
    last_year = nightly / "mallcast-20251201T020000Z.dump"
    for kept in (last_year, nightly / "before-upgrade.dump"):
        kept.write_bytes(b"")
    into = run(home, "db", "backup", str(nightly))  # a directory: a dated file in it
    assert into.returncode == 0, said(into)
    [dated] = set(nightly.glob("mallcast-*Z.dump")) - {last_year}
    assert str(dated) in said(into).replace("\n", "")
    assert stat.S_IMODE(dated.stat().st_mode) == 0o600
    # The cron line that also keeps backups no longer than pings are kept.
    pruned = run(home, "db", "backup", str(nightly), "--keep-days", "30")
    assert pruned.returncode == 0, said(pruned)
    assert "removed 1 backups older than 30 days" in said(pruned)
    assert not last_year.exists()
    assert len(list(nightly.glob("mallcast-*Z.dump"))) in (1, 2)  # two unless in one second
    assert (nightly / "before-upgrade.dump").exists()
    not_a_directory = run(home, "db", "backup", str(dump), "--keep-days", "30")
    assert not_a_directory.returncode == 1
    assert "give one" in said(not_a_directory)
    nowhere = run(home, "db", "backup", "/proc/mallcast.dump")  # a place no one may write
    assert nowhere.returncode == 1
    assert "cannot write /proc/mallcast.dump" in said(nowhere)
    assert "Traceback" not in said(nowhere)
    busy = run(home, "db", "restore", str(dump), "--replace")
    assert busy.returncode != 0
    assert "stop them first" in said(busy)
    server.stop()

    nothing = run(elsewhere, "db", "backup", str(tmp_path / "nothing.dump"))  # a wrong home
    assert nothing.returncode != 0
    assert "no database under" in said(nothing)
    restored = run(elsewhere, "db", "restore", str(dump))
    assert restored.returncode == 0, said(restored)
    assert "malls: 1, devices: 1" in said(restored)
    again = run(elsewhere, "db", "restore", str(dump))
    assert again.returncode != 0
    assert "--replace" in said(again)
    theirs = run(elsewhere, "db", "backup", str(tmp_path / "theirs.dump"),
                 database_url="postgresql+psycopg://mallcast@db.example/mallcast")  # fmt: skip
    assert theirs.returncode != 0  # not an empty embedded cluster's backup, silently
    assert "MALLCAST_DATABASE_URL is set" in said(theirs)
    foreign = tmp_path / "not-a-backup.dump"
    foreign.write_bytes(b"PGDMP" + bytes(100))
    damaged = run(elsewhere, "db", "restore", str(foreign), "--replace")
    assert damaged.returncode != 0
    assert "not a backup" in said(damaged)
    replaced = run(elsewhere, "db", "restore", str(dump), "--replace")  # over the first restore
    assert replaced.returncode == 0, said(replaced)
    future = from_a_newer_version(elsewhere, tmp_path / "future.dump")
    newer = run(elsewhere, "db", "restore", str(future), "--replace")
    assert newer.returncode != 0
    assert "not one this mallcast knows" in said(newer)  # and the restored mall stays, below

    # The restored mall answers as the old one did: its keys, zones, devices and visits.
    moved = Server(elsewhere).start()
    zones = moved.call("GET", f"{base}/zones", key=operator, expect=200).json()["features"]
    assert [z["id"] for z in zones] == [store["id"]]
    mine = moved.call("GET", "/v1/devices/me", key=device["token"], expect=200).json()
    assert mine["device_id"] == device["device_id"]
    server = moved
    assert "enter" not in [e["kind"] for e in stand(6, 12)]  # the same visit goes on
    moved.stop()
    assert "Traceback" not in moved.output(), moved.output()


def test_a_database_a_newer_release_migrated_is_named_not_a_traceback(home: Path) -> None:
    # A release rolled back: the database names a migration this version does not have.
    made = run(home, "migrate")
    assert made.returncode == 0, said(made)
    cluster = EmbeddedPostgres(home)
    cluster.start()
    with psycopg.connect(cluster.conninfo()) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeedf00d'")
    cluster.stop()
    for command in (("serve", "--port", str(free_port())), ("migrate",)):
        refused = run(home, *command)
        assert refused.returncode == 1, said(refused)
        assert "a newer mallcast migrated it" in said(refused)
        assert "Traceback" not in said(refused)


def test_a_restore_erases_again_who_asked_to_be_forgotten_since_the_backup(
    home: Path, tmp_path: Path
) -> None:
    server, operator, mall = a_mall(home)
    base = f"/v1/malls/{mall['id']}"
    stays, leaves = (server.call("POST", "/v1/devices", expect=201, json={
        "platform": "android", "consents": {"location": True, "loyalty": True}}).json()
        for _ in range(2))  # fmt: skip
    for device, card in ((stays, "CARD-1"), (leaves, "CARD-2")):
        server.call("PUT", "/v1/devices/me/member", key=device["token"], expect=200,
                    json={"member_id": card, "mall_id": mall["id"]})  # fmt: skip
    dump = tmp_path / "before.dump"
    assert run(home, "db", "backup", str(dump)).returncode == 0
    # After the backup: one shopper erases their device, the mall erases their card.
    server.call("DELETE", "/v1/devices/me", key=leaves["token"], expect=204)
    erased = server.call("POST", f"{base}/members/erase", key=operator, expect=200,
                         json={"member_id": "CARD-2"}).json()  # fmt: skip
    assert erased == {"erased": True}
    server.stop()

    restored = run(home, "db", "restore", str(dump), "--replace")
    assert restored.returncode == 0, said(restored)
    assert "erased again since the backup: 2" in said(restored)
    back = Server(home).start()
    back.call("GET", "/v1/devices/me", key=leaves["token"], expect=401)
    assert back.call("GET", "/v1/devices/me", key=stays["token"], expect=200).json()[
        "member_linked"
    ]
    for card, known in (("CARD-1", 200), ("CARD-2", 404)):
        back.call("POST", f"{base}/members/view", key=operator, expect=known,
                  json={"member_id": card})  # fmt: skip
    back.stop()
