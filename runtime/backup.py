"""Backups of the embedded cluster's database, and restoring one (`mallcast db backup|restore`).

A backup is pg_dump's custom format of the whole database, taken from a running cluster (a
consistent snapshot while the API and workers go on). It holds personal data (pings, push
tokens, pseudonymous members and their receipts), so it is written readable by its owner only.
A restore goes into a database of its own first and takes the place of the live one only when
all of it came in: a damaged or foreign file leaves the mall as it was.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from core.erasures import ERASE_AGAIN
from runtime.embedded import DATABASE, ClusterState, EmbeddedPostgres
from runtime.migrate import UnknownSchema, upgrade
from runtime.pg_host import EmbeddedError

_RESTORING = f"{DATABASE}_restoring"
_REPLACED = f"{DATABASE}_replaced"
# What says a database holds a mall's data, as opposed to a fresh schema.
_DATA_TABLES = ("malls", "devices", "members", "api_keys")


@dataclass(frozen=True)
class Restored:
    malls: int
    devices: int
    erased_again: int  # devices and members erased after the backup was taken


_STAMP = "%Y%m%dT%H%M%SZ"
_DATED = re.compile(r"mallcast-(\d{8}T\d{6}Z)\.dump")


def expired(names: Iterable[str], now: datetime, keep: timedelta) -> list[str]:
    """The dated backups (mallcast-<UTC time>.dump, as `backup` names them in a directory)
    older than `keep`; any other file is not ours to remove."""
    old = []
    for name in names:
        if (match := _DATED.fullmatch(name)) is not None:
            taken = datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC)
            if now - taken > keep:
                old.append(name)
    return sorted(old)


def backup(cluster: EmbeddedPostgres, target: Path, now: datetime | None = None) -> Path:
    """Write the database to `target` (mode 0600, whole or not at all), or into the directory
    `target` as mallcast-<UTC time>.dump (a nightly cron line needs no date arithmetic);
    returns the file written."""
    target = target.resolve()
    if target.is_dir():
        stamp = (now or datetime.now(UTC)).strftime(_STAMP)
        target = target / f"mallcast-{stamp}.dump"
    if not target.parent.is_dir():
        raise EmbeddedError(f"{target.parent} does not exist")
    if cluster.status().state is ClusterState.ABSENT:
        raise EmbeddedError(
            f"there is no database under {cluster.home} to back up: is MALLCAST_HOME the one "
            "mallcast runs with?"
        )
    # Written in a private directory beside the target, then moved: no half file, and never
    # readable by others, even while pg_dump writes it.
    try:
        with (
            _running(cluster),
            tempfile.TemporaryDirectory(dir=target.parent, prefix=".mallcast-backup-") as work,
        ):
            partial = Path(work) / "backup.dump"
            _tool(
                cluster,
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--file",
                str(partial),
                "--dbname",
                cluster.conninfo(),
                what="pg_dump",
            )
            os.chmod(partial, 0o600)
            os.replace(partial, target)
    except OSError as exc:  # a full disk, a directory we may not write, a read-only mount
        raise EmbeddedError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def prune(directory: Path, keep: timedelta, now: datetime | None = None) -> list[Path]:
    """Remove the dated backups in `directory` older than `keep` (personal data is kept no
    longer than it may be); returns what was removed."""
    try:
        names = expired((p.name for p in directory.iterdir()), now or datetime.now(UTC), keep)
        for name in names:
            (directory / name).unlink()
    except OSError as exc:
        raise EmbeddedError(
            f"cannot remove old backups in {directory}: {exc.strerror or exc}"
        ) from None
    return [directory / name for name in names]


def restore(cluster: EmbeddedPostgres, source: Path, *, replace: bool) -> Restored:
    """Make the database the backup's, brought to this version's schema."""
    if not source.is_file():
        raise EmbeddedError(f"no backup at {source}")
    with _running(cluster):
        listed = _tool(
            cluster, "pg_restore", "--list", str(source), what="reading the backup", check=False
        )
        if listed.returncode != 0 or "TABLE public malls" not in listed.stdout:
            raise EmbeddedError(f"{source} is not a backup of mallcast (mallcast db backup)")
        held = _holds(cluster)
        if held and not replace:
            raise EmbeddedError(
                f"the database already holds data ({held}): restoring would replace it; stop "
                "mallcast and run again with --replace, or restore into a new MALLCAST_HOME"
            )
        _refuse_if_in_use(cluster)
        cluster.drop_database(_REPLACED)  # left by a restore cut short after its swap
        cluster.drop_database(_RESTORING)
        _admin(cluster, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_RESTORING)))
        try:
            _tool(
                cluster,
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                cluster.conninfo(_RESTORING),
                str(source),
                what="pg_restore",
            )
            # Before it takes the live one's place: it may be from a newer version.
            _migrate(cluster)
            erased = _erase_again(cluster)
        except (EmbeddedError, psycopg.Error) as exc:
            cluster.drop_database(_RESTORING)  # the live database stays as it was
            if isinstance(exc, EmbeddedError):
                raise
            raise EmbeddedError(f"restoring failed: {type(exc).__name__}: {exc}") from None
        _swap(cluster)
        with psycopg.connect(cluster.conninfo()) as conn:
            malls, devices = conn.execute(
                "SELECT (SELECT count(*) FROM malls), (SELECT count(*) FROM devices)"
            ).fetchone() or (0, 0)
    return Restored(malls, devices, erased)


def _migrate(cluster: EmbeddedPostgres) -> None:
    try:
        upgrade(cluster.url(_RESTORING))
    except UnknownSchema:
        raise EmbeddedError(
            "the backup's schema is not one this mallcast knows: restore it with the mallcast "
            "version that made it, or a newer one"
        ) from None


def _erase_again(cluster: EmbeddedPostgres) -> int:
    """Carry the live database's erasure ledger into the restored one and erase again everyone
    it names: those who asked to be forgotten after the backup was taken."""
    if not _exists(cluster, DATABASE):
        return 0
    with psycopg.connect(cluster.conninfo()) as conn:
        if conn.execute("SELECT to_regclass('public.erasures')").fetchone() == (None,):
            return 0
        ledger = conn.execute("SELECT kind, mall_id, key, at FROM erasures").fetchall()
    if not ledger:
        return 0
    kinds, malls, keys, ats = (list(column) for column in zip(*ledger, strict=True))
    with psycopg.connect(cluster.conninfo(_RESTORING)) as conn:  # one transaction
        conn.execute(
            "INSERT INTO erasures (kind, mall_id, key, at) "
            "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bytea[], %s::timestamptz[]) "
            "AS t(kind, mall_id, key, at) WHERE NOT EXISTS (SELECT 1 FROM erasures e "
            "WHERE e.kind = t.kind AND e.key = t.key AND e.mall_id IS NOT DISTINCT FROM t.mall_id)",
            (kinds, malls, keys, ats),
        )
        return sum(conn.execute(statement).rowcount for statement in ERASE_AGAIN)


def _swap(cluster: EmbeddedPostgres) -> None:
    """The restored database takes the live one's name, in one transaction: a restore killed at
    any moment leaves the live database or the restored one under that name, never neither.
    Renaming a database someone is connected to fails: a server started meanwhile is not cut."""
    rename = sql.SQL("ALTER DATABASE {} RENAME TO {}")
    try:
        live = _exists(cluster, DATABASE)
        with psycopg.connect(cluster.conninfo("postgres")) as conn:
            if live:
                conn.execute(rename.format(sql.Identifier(DATABASE), sql.Identifier(_REPLACED)))
            conn.execute(rename.format(sql.Identifier(_RESTORING), sql.Identifier(DATABASE)))
    except psycopg.errors.ObjectInUse:
        cluster.drop_database(_RESTORING)
        raise EmbeddedError("mallcast started while restoring: stop it and restore again") from None
    cluster.drop_database(_REPLACED)


@contextmanager
def _running(cluster: EmbeddedPostgres) -> Iterator[None]:
    """The cluster up for the block, and left as it was found."""
    started = cluster.start()
    try:
        yield
    finally:
        if started:
            cluster.stop()


def _holds(cluster: EmbeddedPostgres) -> str:
    """What the live database holds, in words ("" when nothing worth keeping)."""
    if not _exists(cluster, DATABASE):
        return ""
    counts = []
    with psycopg.connect(cluster.conninfo()) as conn:
        for table in _DATA_TABLES:
            if conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone() == (None,):
                continue
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            if row and row[0]:
                counts.append(f"{table.replace('_', ' ')}: {row[0]}")
    return ", ".join(counts)


def _refuse_if_in_use(cluster: EmbeddedPostgres) -> None:
    with psycopg.connect(cluster.conninfo("postgres")) as conn:
        users = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (DATABASE,),
        ).fetchone()
    if users and users[0]:
        raise EmbeddedError(
            f"{users[0]} connections use the database (mallcast serve or worker): stop them first"
        )


def _exists(cluster: EmbeddedPostgres, database: str) -> bool:
    with psycopg.connect(cluster.conninfo("postgres")) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        return conn.execute(query, (database,)).fetchone() is not None


def _admin(cluster: EmbeddedPostgres, statement: sql.Composed) -> None:
    with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(statement)


def _tool(
    cluster: EmbeddedPostgres, name: str, *args: str, what: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    argv: Sequence[str] = [cluster.binaries.tool(name), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise EmbeddedError(f"{what} failed: {last}")
    return done
