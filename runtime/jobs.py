"""Scheduled jobs (APScheduler): presence timeout sweep, raw-ping retention, promotion expiry,
the nightly segment recompute, the nightly lifecycle (members' lifetime model, purchase segments,
figures by week), outreach to members who entered a segment, the analytics roll-up and the end
of console sessions.

Each run takes a PostgreSQL advisory lock on a connection of its own, so that when several
replicas schedule the same job only one of them does the work at a time; the others skip that
run. Every job is idempotent: running it twice in a row does nothing the second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import InterfaceError, OperationalError

from access.staff import forget_expired
from api.metrics import Metrics
from api.rules import presence_rules
from core.db import Database
from core.events import EventSink
from core.settings import Settings
from geofence.cache import ZoneIndexCache
from geofence.maintenance import purge_pings, sweep_presence
from geofence.models import Mall
from loyalty.nightly import refresh_lifecycle
from promotions import rollups
from promotions.catalog import end_expired
from promotions.outreach import reach_out

log = logging.getLogger("mallcast.jobs")

# Advisory lock keys: (namespace, job). The namespace spells "mc".
_LOCK_NAMESPACE = 0x6D63
_JOB_KEYS = {
    "presence_sweep": 1,
    "ping_retention": 2,
    "promotion_expiry": 3,
    "segment_recompute": 4,
    "analytics_rollup": 5,
    "console_sessions": 6,
    "member_lifecycle": 7,
    "outreach": 8,
}


class Jobs:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        cache: ZoneIndexCache,
        sink: EventSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.settings = settings
        self.cache = cache
        self.sink = sink
        # The demo runs the jobs on its simulated clock: shoppers' pings are hours old in
        # wall-clock time, and a wall-clock sweep would end every simulated visit.
        self.clock = clock
        self._rng = np.random.default_rng()  # the engine's ranking draws (outreach)

    def presence_sweep(self) -> int | None:
        """Exit events for devices that stopped pinging. None when another replica ran it."""
        with self.holding("presence_sweep") as mine:
            if not mine:
                return None
            total = 0
            while True:
                with self.database.sessions() as session:
                    swept = sweep_presence(
                        session,
                        self.cache,
                        now=self.clock(),
                        rules=presence_rules(self.settings),
                        sink=self.sink,
                    )
                    session.commit()
                total += swept
                if swept == 0:
                    break
            if total:
                log.info("presence sweep: %d devices timed out", total)
            return total

    def ping_retention(self) -> int | None:
        """Delete raw pings older than the retention. None when another replica ran it."""
        with self.holding("ping_retention") as mine:
            if not mine:
                return None
            cutoff = self._now() - timedelta(days=self.settings.ping_retention_days)
            deleted, batch = 0, 50_000
            while True:  # a transaction per batch: short locks
                with self.database.sessions() as session:
                    purged = purge_pings(session, older_than=cutoff, batch=batch)
                    session.commit()
                deleted += purged
                if purged < batch:
                    break
            log.info("ping retention: %d pings older than %s deleted", deleted, cutoff.date())
            return deleted

    def console_sessions(self) -> int | None:
        """Delete console sessions and sign-in links that have ended (wall-clock time: a
        sign-in is a person's, not the demo's simulated evening)."""
        with self.holding("console_sessions") as mine:
            if not mine:
                return None
            with self.database.sessions() as session:
                ended = forget_expired(session)
                session.commit()
            return ended

    def promotion_expiry(self) -> int | None:
        """Approved or paused promotions past their end date become ended."""
        with self.holding("promotion_expiry") as mine:
            if not mine:
                return None
            with self.database.sessions() as session:
                ended = end_expired(session, self._now())
                session.commit()
            if ended:
                log.info("promotion expiry: %d promotions ended", ended)
            return ended

    def segment_recompute(self) -> int | None:
        """Every mall's shoppers with their segments as of now. Returns how many shoppers."""
        with self.holding("segment_recompute") as mine:
            if not mine:
                return None
            total = 0
            for mall_id in self._mall_ids():
                with self.database.sessions() as session:
                    total += rollups.recompute_segments(session, mall_id, self._now())
                    session.commit()
            log.info("segment recompute: %d shoppers", total)
            return total

    def member_lifecycle(self) -> int | None:
        """Every mall's members placed by their purchases. Returns how many members."""
        with self.holding("member_lifecycle") as mine:
            if not mine:
                return None
            total = 0
            for mall_id, timezone in self._malls():
                with self.database.sessions() as session:
                    total += refresh_lifecycle(session, mall_id, timezone, self._now())
                    session.commit()
            log.info("member lifecycle: %d members", total)
            return total

    def outreach(self) -> int | None:
        """Pushes to members who entered a segment a promotion reaches out on, in each mall's
        send windows. Returns how many were sent."""
        with self.holding("outreach") as mine:
            if not mine:
                return None
            sent = 0
            for mall_id, timezone in self._malls():
                with self.database.sessions() as session:
                    sent += reach_out(session, mall_id, timezone, self._now(), self._rng)
                    session.commit()
            if sent:
                log.info("outreach: %d pushes", sent)
            return sent

    def analytics_rollup(self) -> int | None:
        """Every mall's recent days of promotion results. Returns how many promotion-days."""
        with self.holding("analytics_rollup") as mine:
            if not mine:
                return None
            total = 0
            for mall_id in self._mall_ids():
                with self.database.sessions() as session:
                    total += rollups.roll_up(
                        session, mall_id, self._now(), days=self.settings.analytics_rollup_days
                    )
                    session.commit()
            log.info("analytics roll-up: %d promotion-days", total)
            return total

    def _malls(self) -> list[tuple[int, str]]:
        with self.database.sessions() as session:
            rows = session.execute(select(Mall.id, Mall.timezone).order_by(Mall.id)).all()
            return [(mall_id, timezone) for mall_id, timezone in rows]

    def _mall_ids(self) -> list[int]:
        with self.database.sessions() as session:
            return list(session.scalars(select(Mall.id).order_by(Mall.id)))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @contextmanager
    def holding(self, job: str) -> Iterator[bool]:
        """Try the job's advisory lock on a connection of its own; yields whether we got it."""
        with self.database.engine.connect() as conn:
            mine = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_lock(:namespace, :job)"),
                    {"namespace": _LOCK_NAMESPACE, "job": _JOB_KEYS[job]},
                ).scalar()
            )
            conn.commit()
            try:
                yield mine
            finally:
                if mine:
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:namespace, :job)"),
                        {"namespace": _LOCK_NAMESPACE, "job": _JOB_KEYS[job]},
                    )
                    conn.commit()


def start_scheduler(app: FastAPI, clock: Callable[[], float] = time.time) -> BackgroundScheduler:
    """Start the jobs of a running app, sharing its database, zone cache and event sink."""
    state = app.state
    jobs = Jobs(state.database, state.settings, state.zone_cache, state.event_sink, clock)
    return schedule(jobs, state.metrics)


def schedule(jobs: Jobs, metrics: Metrics | None = None) -> BackgroundScheduler:
    settings = jobs.settings
    scheduler = BackgroundScheduler(timezone="UTC")
    plan: list[tuple[Callable[[], object], float]] = [
        (jobs.presence_sweep, settings.presence_sweep_s),
        (jobs.ping_retention, settings.ping_retention_sweep_s),
        (jobs.promotion_expiry, 60.0),
        (jobs.analytics_rollup, settings.analytics_rollup_s),
        (jobs.console_sessions, settings.ping_retention_sweep_s),
        (jobs.outreach, settings.outreach_s),
    ]
    for job, every_s in plan:
        scheduler.add_job(
            _logged(job, metrics),
            "interval",
            seconds=every_s,
            id=job.__name__,
            name=job.__name__,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
    # Nightly, and once now: a new deployment has segment sizes before its first night.
    for nightly in (jobs.segment_recompute, jobs.member_lifecycle):
        scheduler.add_job(
            _logged(nightly, metrics),
            "cron",
            hour=settings.segment_recompute_hour_utc,
            minute=0,
            id=nightly.__name__,
            name=nightly.__name__,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
    scheduler.start()
    return scheduler


def _logged(job: Callable[[], object], metrics: Metrics | None) -> Callable[[], None]:
    failing = False  # the last run failed: during a database outage, one line, not one a run

    def run() -> None:
        nonlocal failing
        try:
            outcome = job()
        except (OperationalError, InterfaceError) as exc:  # the database is away
            if not failing:
                log.error(
                    "job %s: cannot reach the database (%s); retrying on schedule",
                    job.__name__,
                    type(exc.orig).__name__,
                )
            failing, result = True, "failed"
        except Exception:  # a bug or bad data: the whole story, every time
            log.exception("job %s failed", job.__name__)
            failing, result = True, "failed"
        else:
            if failing:
                log.warning("job %s runs again", job.__name__)
            failing = False
            result = "skipped" if outcome is None else "done"  # None: another replica ran it
        if metrics is not None:
            metrics.job_runs.labels(job.__name__, result).inc()

    run.__name__ = job.__name__
    return run
