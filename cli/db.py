"""`mallcast db ...`: the embedded PostgreSQL + PostGIS cluster under MALLCAST_HOME."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.common import console, fail
from core.settings import Settings, get_settings
from runtime.embedded import ClusterState
from runtime.pg_host import EmbeddedError

db_app = typer.Typer(help="The embedded PostgreSQL + PostGIS cluster under MALLCAST_HOME")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded cluster (created on first use) and leave it running."""
    from runtime.database import embedded_cluster
    from runtime.migrate import upgrade

    settings = _embedded_settings()
    cluster = embedded_cluster(settings)
    try:
        started = cluster.start()
    except EmbeddedError as exc:
        raise fail(str(exc)) from None
    upgrade(cluster.url())
    console.print("started" if started else "already running", f"({cluster.cluster_dir})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster (fast shutdown: connections end, data stays)."""
    from runtime.database import embedded_cluster

    try:
        stopped = embedded_cluster(_embedded_settings()).stop()
    except EmbeddedError as exc:
        raise fail(str(exc)) from None
    console.print("stopped" if stopped else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded cluster exists and runs; exit 3 when it is not running."""
    from runtime.database import embedded_cluster

    status = embedded_cluster(_embedded_settings()).status()
    pid = f" (pid {status.pid})" if status.pid else ""
    typer.echo(f"{status.state.value}{pid}\ndata: {status.data_dir}\nsocket: {status.socket_dir}")
    if status.state is not ClusterState.RUNNING:
        raise typer.Exit(code=3)


@db_app.command("url")
def db_url() -> None:
    """Print the SQLAlchemy URL of the embedded cluster (for MALLCAST_DATABASE_URL or psql)."""
    from runtime.database import embedded_cluster

    typer.echo(embedded_cluster(_embedded_settings()).url())


def _embedded_settings() -> Settings:
    settings = get_settings()
    if settings.database_url:
        console.print("note: MALLCAST_DATABASE_URL is set; this is about the embedded cluster only")
    return settings


@db_app.command("backup")
def db_backup(
    file: Annotated[
        Path,
        typer.Argument(
            help="The backup file (pg_dump's format), or a directory to write "
            "mallcast-<UTC time>.dump into"
        ),
    ],
    keep_days: Annotated[
        int | None,
        typer.Option(
            min=1, help="With a directory: then remove its dated backups older than this many days"
        ),
    ] = None,
) -> None:
    """Back up the embedded database while mallcast runs (a consistent snapshot). The file holds
    personal data: it is written readable by its owner only."""
    from runtime.backup import backup, prune
    from runtime.database import embedded_cluster

    if keep_days is not None and not file.is_dir():
        raise fail("--keep-days removes old backups from a directory: give one")
    try:
        written = backup(embedded_cluster(_embedded_only("back up")), file)
        removed = prune(file, timedelta(days=keep_days)) if keep_days is not None else []
    except EmbeddedError as exc:
        raise fail(str(exc)) from None
    console.print(f"backed up to {written} ({written.stat().st_size / 1e6:.1f} MB)")
    if removed:
        console.print(f"removed {len(removed)} backups older than {keep_days} days")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup made by `mallcast db backup`")],
    replace: Annotated[
        bool, typer.Option(help="Replace a database that holds data (mallcast must be stopped)")
    ] = False,
) -> None:
    """Restore a backup into the embedded database and bring it to this version's schema. A
    backup that cannot be read whole leaves the database as it was."""
    from runtime.backup import restore
    from runtime.database import embedded_cluster

    try:
        restored = restore(embedded_cluster(_embedded_only("restore")), file, replace=replace)
    except EmbeddedError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"restored {file} (malls: {restored.malls}, devices: {restored.devices}; "
        f"erased again since the backup: {restored.erased_again})"
    )


def _embedded_only(what: str) -> Settings:
    """Backups are of the embedded cluster: with a database of one's own, its own tools."""
    settings = get_settings()
    if settings.database_url:
        raise fail(
            f"MALLCAST_DATABASE_URL is set: mallcast uses that database, not the embedded one; "
            f"{what} it with its own tools (pg_dump and pg_restore, or the provider's snapshots)"
        )
    return settings
