"""The `mallcast` command: serve, manage the embedded database, migrate, issue API keys."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from api.db import Database
from api.embedded import ClusterState, EmbeddedError
from api.settings import Settings, get_settings

app = typer.Typer(help="mallcast: location-aware mall engagement backend", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL + PostGIS cluster under MALLCAST_HOME")
keys_app = typer.Typer(help="API keys of operators and tenants")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from api.metrics import Metrics

console = Console(stderr=True, soft_wrap=True)


def main() -> None:
    # A process started in the background by a non-interactive shell, or by some supervisors,
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt for it: `kill
    # -INT` would do nothing. Every command stops on SIGINT, however it was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    app()


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


@contextmanager
def _database(settings: Settings, *, start_embedded: bool) -> Iterator[tuple[str, bool]]:
    """The database URL, starting the embedded cluster when asked; stops what it started."""
    from api.runtime import embedded_cluster

    if settings.database_url:
        yield settings.database_url, False
        return
    cluster = embedded_cluster(settings)
    try:
        if start_embedded:
            started = cluster.start()
            if started:
                console.print(f"embedded PostgreSQL started under {cluster.cluster_dir}")
        elif cluster.status().state is not ClusterState.RUNNING:
            raise EmbeddedError(
                "the embedded PostgreSQL is not running: `mallcast db start` "
                "(or set MALLCAST_DATABASE_URL)"
            )
        else:
            started = False
    except EmbeddedError as exc:
        raise _fail(str(exc)) from None
    try:
        yield cluster.url(), started
    finally:
        if started:
            cluster.stop()
            console.print("embedded PostgreSQL stopped")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [MALLCAST_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [MALLCAST_PORT]")] = None,
    demo: Annotated[
        bool, typer.Option(help="Seed the demo mall and print an operator key")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="API processes [MALLCAST_WORKERS]")
    ] = None,
) -> None:
    """Run the API (starting and migrating the embedded database when no URL is configured)."""
    settings = get_settings()
    workers = workers or settings.workers
    if workers > 1:
        # Counters of every process in one /metrics: prometheus-client's multiprocess mode,
        # chosen by this variable before the library is first imported (here and in workers).
        metrics_dir = settings.home.resolve() / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    import uvicorn

    from api.app import create_app
    from api.jobs import start_scheduler
    from api.migrate import upgrade
    from api.push_runtime import PushRuntime
    from api.workers import serve_workers

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: with the default
    # handler that would kill us before the embedded cluster is stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    host, port = host or settings.host, port or settings.port
    with _database(settings, start_embedded=True) as (url, _):
        upgrade(url)
        database = Database(url, pool_size=settings.db_pool_size)
        if demo:
            _seed_demo(settings, database, f"http://{host}:{port}")
        application = create_app(settings, database, warm=True)
        scheduler = start_scheduler(application) if settings.scheduler else None
        pushes = (
            PushRuntime(settings, database.engine, application.state.metrics).start()
            if settings.dispatcher
            else None
        )
        if pushes is not None and pushes.local is not None:
            console.print(f"no Firebase credentials: pushes go to the local FCM server at "
                          f"{pushes.local.url}")  # fmt: skip
        try:
            if workers > 1:
                # Each worker builds its own app from the environment; the app here serves the
                # dispatcher and the jobs only.
                os.environ["MALLCAST_DATABASE_URL"] = url
                console.print(f"{workers} API processes on http://{host}:{port}")
                code = serve_workers(host, port, workers, settings.log_level)
                if code:
                    raise typer.Exit(code)
            else:
                uvicorn.run(application, host=host, port=port, log_level=settings.log_level)
        finally:
            if pushes is not None:
                pushes.stop()
            if scheduler is not None:
                scheduler.shutdown(wait=True)
            database.dispose()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _seed_demo(settings: Settings, database: Database, base: str) -> tuple[int, str]:
    """Seed the demo mall (idempotent) and return its id with an operator key, kept in
    MALLCAST_HOME so that it stays the same from one run to the next."""
    from api.demo.seed import seed_demo
    from api.keys import create_key, verify_key

    key_file = settings.home / "operator.key"
    with database.sessions() as session:
        mall = seed_demo(session, settings.geometry_limits(), with_promotions=True)
        key = key_file.read_text().strip() if key_file.exists() else ""
        if not key or verify_key(session, key) is None:
            key = create_key(session, role="operator", label="demo").plaintext
            settings.home.mkdir(parents=True, exist_ok=True)
            key_file.write_text(key + "\n")
            key_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
        session.commit()
    console.print(
        f"demo mall [bold]{mall.name}[/] (id {mall.id}) is ready.\n"
        f"operator key (kept in {key_file}):\n  {key}\n"
        f"try:  curl -H 'Authorization: Bearer {key}' {base}/v1/malls/{mall.id}/levels\n"
        f"API docs: {base}/docs",
        highlight=False,
        soft_wrap=True,
    )
    return mall.id, key


@app.command()
def demo(
    shoppers: Annotated[int, typer.Option(min=1, max=2000, help="Simulated shoppers")] = 20,
    minutes: Annotated[
        float | None,
        typer.Option(
            min=1,
            max=720,
            help="Simulated minutes, then exit [default: 60, then "
            "go on serving the API until Ctrl-C]",
        ),
    ] = None,
    speedup: Annotated[
        float, typer.Option(min=1, max=600, help="Simulated seconds per second")
    ] = 30,
    port: Annotated[int | None, typer.Option(help="API port [MALLCAST_PORT]")] = None,
) -> None:
    """Simulated shoppers walk the demo mall: live events, decisions and notifications."""
    from api.demo.run import run_demo
    from api.migrate import upgrade

    settings = get_settings()
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with _database(settings, start_embedded=True) as (url, _):
        upgrade(url)
        database = Database(url, pool_size=settings.db_pool_size)
        try:
            mall_id, key = _seed_demo(settings, database, f"http://127.0.0.1:{settings.port}")
            run_demo(settings, database, mall_id=mall_id, operator_key=key, shoppers=shoppers,
                     minutes=minutes or 60, speedup=speedup, keep_serving=minutes is None,
                     console=Console(soft_wrap=False))  # fmt: skip
        except KeyboardInterrupt:
            console.print("demo stopped")
        finally:
            database.dispose()


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The mallcast to load (it must hold the demo mall)")],
    shoppers: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    rate: Annotated[float, typer.Option(min=1, help="Pings per second to send")] = 100,
    seconds: Annotated[float, typer.Option(min=1, help="How long to run")] = 30,
) -> None:
    """Drive a running mallcast with simulated shoppers at a chosen rate (a load generator)."""
    from api.demo.loadgen import generate_load

    load = generate_load(url.rstrip("/"), shoppers=shoppers, rate=rate, seconds=seconds)
    typer.echo(
        f"{load.pings:,} pings in {load.requests:,} requests over {load.seconds:.1f} s: "
        f"{load.pings_per_s:,.0f} pings/s (asked {rate:g}); request p50 {load.p50_ms:.1f} ms, "
        f"p99 {load.p99_ms:.1f} ms; {load.errors} errors, {load.rejected} pings rejected"
    )
    if load.errors or load.rejected:
        raise typer.Exit(code=1)


@app.command()
def worker() -> None:
    """Run the push dispatcher and the scheduled jobs without the HTTP API (scale them apart)."""
    from api.app import create_app
    from api.jobs import start_scheduler
    from api.migrate import upgrade
    from api.push_runtime import PushRuntime

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with _database(settings, start_embedded=True) as (url, _):
        upgrade(url)  # a worker may be the first process on a new database
        database = Database(url, pool_size=settings.db_pool_size)
        application = create_app(settings, database)  # its caches and engine, no HTTP
        metrics: Metrics = application.state.metrics
        scheduler = start_scheduler(application) if settings.scheduler else None
        pushes = PushRuntime(settings, database.engine, metrics).start()
        exporter = _serve_metrics(metrics, settings.host, settings.worker_metrics_port)
        console.print("worker running: dispatcher and scheduled jobs (Ctrl-C stops)")
        try:
            stop.wait()
        finally:
            if exporter is not None:
                exporter.shutdown()
            pushes.stop()
            if scheduler is not None:
                scheduler.shutdown(wait=True)
            database.dispose()


def _serve_metrics(metrics: Metrics, host: str, port: int) -> WSGIServer | None:
    """Prometheus's /metrics of a worker, in a thread; a busy port is said, not fatal (two
    workers on one machine need a port each)."""
    if not port:
        return None
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(port, host, registry=metrics.registry)
    except OSError as exc:
        console.print(f"[yellow]warning:[/] no /metrics on {host}:{port}: {exc.strerror}")
        return None
    console.print(f"metrics on http://{host}:{port}/metrics")
    return server


@app.command()
def migrate(
    check: Annotated[bool, typer.Option(help="Only check that the models match")] = False,
) -> None:
    """Bring the database schema up to date (Alembic)."""
    from api import migrate as migrations

    with _database(get_settings(), start_embedded=True) as (url, _):
        if check:
            migrations.check(url)
            console.print("schema matches the models")
        else:
            migrations.upgrade(url)
            console.print("schema is up to date")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded cluster (created on first use) and leave it running."""
    from api.migrate import upgrade
    from api.runtime import embedded_cluster

    settings = _embedded_settings()
    cluster = embedded_cluster(settings)
    try:
        started = cluster.start()
    except EmbeddedError as exc:
        raise _fail(str(exc)) from None
    upgrade(cluster.url())
    console.print("started" if started else "already running", f"({cluster.cluster_dir})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster (fast shutdown: connections end, data stays)."""
    from api.runtime import embedded_cluster

    try:
        stopped = embedded_cluster(_embedded_settings()).stop()
    except EmbeddedError as exc:
        raise _fail(str(exc)) from None
    console.print("stopped" if stopped else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded cluster exists and runs; exit 3 when it is not running."""
    from api.runtime import embedded_cluster

    status = embedded_cluster(_embedded_settings()).status()
    pid = f" (pid {status.pid})" if status.pid else ""
    typer.echo(f"{status.state.value}{pid}\ndata: {status.data_dir}\nsocket: {status.socket_dir}")
    if status.state is not ClusterState.RUNNING:
        raise typer.Exit(code=3)


@db_app.command("url")
def db_url() -> None:
    """Print the SQLAlchemy URL of the embedded cluster (for MALLCAST_DATABASE_URL or psql)."""
    from api.runtime import embedded_cluster

    typer.echo(embedded_cluster(_embedded_settings()).url())


def _embedded_settings() -> Settings:
    settings = get_settings()
    if settings.database_url:
        console.print("note: MALLCAST_DATABASE_URL is set; this is about the embedded cluster only")
    return settings


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="operator or tenant")],
    mall: Annotated[
        list[int] | None, typer.Option(help="Operator: a mall it may manage (repeatable)")
    ] = None,
    tenant: Annotated[int | None, typer.Option(help="Tenant: the tenant id")] = None,
    label: Annotated[str, typer.Option(help="A note on who holds the key")] = "",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from api.keys import create_key
    from core.errors import MallcastError

    with _database(get_settings(), start_embedded=False) as (url, _):
        database = Database(url, pool_size=1)
        try:
            with database.sessions() as session:
                issued = create_key(
                    session, role=role, mall_ids=mall or [], tenant_id=tenant, label=label
                )
                session.commit()
        except MallcastError as exc:
            raise _fail(exc.message) from None
        finally:
            database.dispose()
    scope = f"tenant {tenant}" if role == "tenant" else f"malls {mall}" if mall else "every mall"
    console.print(f"{role} key for {scope} (shown once, keep it safe):", highlight=False)
    typer.echo(issued.plaintext)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key, or its id")]) -> None:
    """Revoke a key: requests with it fail from now on."""
    from api.keys import revoke_key
    from core.errors import MallcastError

    with _database(get_settings(), start_embedded=False) as (url, _):
        database = Database(url, pool_size=1)
        try:
            with database.sessions() as session:
                row = revoke_key(session, key_id)
                session.commit()
        except MallcastError as exc:
            raise _fail(exc.message) from None
        finally:
            database.dispose()
    console.print(f"revoked key {row.id}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, roles, scopes; never secrets)."""
    from api.keys import list_keys

    with _database(get_settings(), start_embedded=False) as (url, _):
        database = Database(url, pool_size=1)
        with database.sessions() as session:
            for row in list_keys(session):
                scope = (
                    f"tenant {row.tenant_id}"
                    if row.role == "tenant"
                    else "all malls"
                    if row.all_malls
                    else f"malls {[m.mall_id for m in row.malls]}"
                )
                state = "revoked" if row.revoked_at else "active"
                typer.echo(f"{row.id}  {row.role:8}  {scope:20}  {state:8}  {row.label}")
        database.dispose()


__all__ = ["app", "main"]
