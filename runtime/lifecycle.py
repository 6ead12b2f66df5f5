"""One mallcast process from start to stop, written once: `serve`, `worker` and the demo all
run inside a `Runtime`.

Start: the database (the configured URL, or the embedded cluster, started when needed) →
migrations → the `Database` → `prepare` (the demo seeds its mall here) → the app → the
scheduled jobs → the push dispatcher. Stop: the same in reverse, whatever failed in between;
an embedded cluster is stopped only by the runtime that started it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI

from api.app import create_app
from api.metrics import Metrics
from console.app import install as with_console
from core.db import Database
from core.settings import Settings
from runtime.database import embedded_cluster
from runtime.embedded import EmbeddedPostgres
from runtime.jobs import start_scheduler
from runtime.migrate import upgrade
from runtime.push import PushRuntime
from runtime.watch import ClusterWatch


@dataclass(frozen=True)
class Parts:
    """What a runtime starts besides the database and the app."""

    scheduler: bool = True
    dispatcher: bool = True
    warm: bool = False  # build every mall's zone index before serving
    # The demo runs the jobs and the promotion decisions on its simulated clock.
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Running:
    """What a started runtime holds."""

    url: str
    database: Database
    app: FastAPI
    pushes: PushRuntime | None  # None: no dispatcher in this process

    @property
    def metrics(self) -> Metrics:
        metrics: Metrics = self.app.state.metrics
        return metrics


class Runtime:
    def __init__(
        self,
        settings: Settings,
        parts: Parts,
        *,
        prepare: Callable[[Database], None] | None = None,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.settings = settings
        self.parts = parts
        self._prepare = prepare
        self._say = say
        self._cluster: EmbeddedPostgres | None = None  # the embedded cluster this runtime started
        self.watch: ClusterWatch | None = (
            None  # the embedded cluster it uses, started again if it dies
        )
        self.database: Database | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.pushes: PushRuntime | None = None

    def __enter__(self) -> Running:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Running:
        settings, parts = self.settings, self.parts
        url = self._database_url()
        upgrade(url)  # the first process on a new database creates its schema
        self.database = database = Database(url, pool_size=settings.db_pool_size)
        if self._prepare is not None:
            self._prepare(database)
        app = with_console(create_app(settings, database, warm=parts.warm, clock=parts.clock))
        if parts.scheduler:
            self.scheduler = start_scheduler(app, clock=parts.clock)
        if parts.dispatcher:
            self.pushes = PushRuntime(settings, database.engine, app.state.metrics).start()
            if self.pushes.local is not None:
                self._say(
                    f"no Firebase credentials: pushes go to the local FCM server at "
                    f"{self.pushes.local.url}"
                )
        return Running(url, database, app, self.pushes)

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
            self.watch = None
        if self.pushes is not None:
            self.pushes.stop()
            self.pushes = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if self.database is not None:
            self.database.dispose()
            self.database = None
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None
            self._say("embedded PostgreSQL stopped")

    def _database_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        cluster = embedded_cluster(self.settings)
        if cluster.start():  # False: it was running already, and is someone else's to stop
            self._cluster = cluster
            self._say(f"embedded PostgreSQL started under {cluster.cluster_dir}")
        self.watch = ClusterWatch(cluster, self.settings.embedded_watch_s).start()
        return cluster.url()
