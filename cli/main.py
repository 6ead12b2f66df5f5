"""The `mallcast` command: serve, worker, the demo, migrations; `db` and `keys` beside.

Every command that runs the service does so inside one `runtime.lifecycle.Runtime`.
Modules that import prometheus-client are imported inside the commands: `serve --workers N`
chooses its multiprocess mode by an environment variable read when the library is imported.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from cli.common import console, fail, say
from cli.db import db_app
from cli.imports import import_app, lifecycle
from cli.keys import keys_app
from cli.users import users_app
from core.db import Database
from core.settings import Settings, get_settings
from runtime import logs
from runtime.pg_host import EmbeddedError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from api.metrics import Metrics
    from demo.seed import DemoMall

app = typer.Typer(help="mallcast: location-aware mall engagement backend", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import")
app.command()(lifecycle)


@app.callback()
def _settings_first() -> None:
    # Before any command: a setting that cannot be is one line naming it (never its value,
    # which may be a password), not a traceback.
    try:
        get_settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = "_".join(str(part) for part in error["loc"]).upper()
            console.print(f"[bold red]error:[/] MALLCAST_{field}: {error['msg']}", highlight=False)
        raise typer.Exit(code=2) from None


def main() -> None:
    # A process started in the background by a non-interactive shell, or by some supervisors,
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt for it: `kill
    # -INT` would do nothing. Every command stops on SIGINT, however it was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    app()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _logging(settings: Settings) -> None:
    logs.configure(settings.log_level)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [MALLCAST_HOST]")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Listen port [MALLCAST_PORT]")
    ] = None,
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

    from runtime.lifecycle import Parts, Runtime
    from runtime.workers import serve_workers

    _logging(settings)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: with the default
    # handler that would kill us before the embedded cluster is stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    host, port = host or settings.host, port or settings.port
    base = f"http://{host}:{port}"
    prepare = (lambda database: _seed_demo(settings, database, base)) if demo else None
    parts = Parts(scheduler=settings.scheduler, dispatcher=settings.dispatcher, warm=True)
    try:
        with Runtime(settings, parts, prepare=prepare, say=say) as running:
            if workers > 1:
                # Each worker builds its own app from the environment; the app here serves the
                # dispatcher and the jobs only.
                os.environ["MALLCAST_DATABASE_URL"] = running.url
                console.print(f"{workers} API processes on {base}")
                code = serve_workers(host, port, workers, settings.log_level)
                if code:
                    raise typer.Exit(code)
            else:
                uvicorn.run(running.app, host=host, port=port, log_level=settings.log_level)
    except EmbeddedError as exc:
        raise fail(str(exc)) from None


def _seed_demo(settings: Settings, database: Database, base: str) -> None:
    from demo.seed import seed_with_operator_key

    _print_demo_mall(seed_with_operator_key(settings, database), base)


def _print_demo_mall(mall: DemoMall, base: str) -> None:
    from demo.run import print_sign_ins

    key = mall.operator_key
    console.print(
        f"demo mall [bold]{mall.name}[/] (id {mall.mall_id}) is ready.\n"
        f"operator key (kept in {mall.key_file}):\n  {key}\n"
        f"try:  curl -H 'Authorization: Bearer {key}' {base}/v1/malls/{mall.mall_id}/levels\n"
        f"API docs: {base}/docs",
        highlight=False,
        soft_wrap=True,
    )
    print_sign_ins(console, mall, base)


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
    from demo.run import run_demo

    settings = get_settings()
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    logs.configure("warning")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        run_demo(
            settings,
            shoppers=shoppers,
            minutes=minutes or 60,
            speedup=speedup,
            keep_serving=minutes is None,
            console=Console(soft_wrap=False),
            on_ready=lambda mall: _print_demo_mall(mall, base),
        )
    except KeyboardInterrupt:
        console.print("demo stopped")
    except EmbeddedError as exc:
        raise fail(str(exc)) from None


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The mallcast to load (it must hold the demo mall)")],
    shoppers: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    rate: Annotated[float, typer.Option(min=1, help="Pings per second to send")] = 100,
    seconds: Annotated[float, typer.Option(min=1, help="How long to run")] = 30,
) -> None:
    """Drive a running mallcast with simulated shoppers at a chosen rate (a load generator)."""
    from demo.loadgen import generate_load

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
    from runtime.lifecycle import Parts, Runtime

    settings = get_settings()
    _logging(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    parts = Parts(scheduler=settings.scheduler, dispatcher=True)
    try:
        with Runtime(settings, parts, say=say) as running:
            exporter = _serve_metrics(running.metrics, settings.host, settings.worker_metrics_port)
            console.print("worker running: dispatcher and scheduled jobs (Ctrl-C stops)")
            try:
                stop.wait()
            finally:
                if exporter is not None:
                    exporter.shutdown()
    except EmbeddedError as exc:
        raise fail(str(exc)) from None


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
    from runtime.database import embedded_cluster

    settings = get_settings()
    try:
        if settings.database_url:
            _migrate(settings.database_url, check=check)
            return
        cluster = embedded_cluster(settings)
        started = cluster.start()
        try:
            _migrate(cluster.url(), check=check)
        finally:
            if started:  # it was not running: leave it as it was
                cluster.stop()
    except EmbeddedError as exc:
        raise fail(str(exc)) from None


def _migrate(url: str, *, check: bool) -> None:
    from runtime import migrate as migrations

    if check:
        migrations.check(url)
        console.print("schema matches the models")
    else:
        migrations.upgrade(url)
        console.print("schema is up to date")


__all__ = ["app", "main"]
