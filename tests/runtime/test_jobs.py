"""Scheduled jobs on the real database and a real APScheduler: timeouts and retention."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from api.rules import presence_rules
from core.db import Database
from core.settings import Settings
from geofence.maintenance import sweep_presence
from geofence.models import Ping, Presence, ZoneEvent
from geofence.storage import _LOCK
from runtime.jobs import Jobs, schedule, start_scheduler
from tests.support.api import count, jobs_for, ping, register, starbucks, stay


def visit_ten_minutes_ago(client: TestClient, db: Database, mall_id: int) -> None:
    _, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    then = time.time() - 700  # longer ago than the 600 s presence timeout
    response = client.post("/v1/pings", headers=headers, json={"pings": stay(lon, lat, then)})
    assert len(response.json()["events"]) == 2  # the mall and the store
    arrived_then(db, seconds_ago=700)


def arrived_then(db: Database, *, seconds_ago: float) -> None:
    """As if the last pings had reached the server that long ago (silence is judged by it)."""
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE presence SET last_ping_at = now() - make_interval(secs => :s)"),
                     {"s": seconds_ago})  # fmt: skip


def test_a_phone_uploading_what_it_buffered_offline_is_not_timed_out(
    client: TestClient, db: Database, mall_id: int
) -> None:
    # Its pings are 10-25 minutes behind the clock, but they keep arriving: the visit goes on.
    _, lon, lat = starbucks(db, mall_id)
    _, headers = register(client, location=True)
    behind = time.time() - 25 * 60
    jobs = jobs_for(client)
    enters = 0
    for batch in range(6):
        pings = [ping(behind + batch * 150 + i * 10, lon, lat) for i in range(15)]
        answer = client.post("/v1/pings", headers=headers, json={"pings": pings}).json()
        enters += sum(e["kind"] == "enter" for e in answer["events"])
        assert jobs.presence_sweep() == 0
    assert enters == 2  # the mall and the store, once
    assert exits(db) == []


def exits(db: Database) -> list[tuple[str, str | None]]:
    with db.sessions() as session:
        rows = session.execute(
            select(ZoneEvent.subject, ZoneEvent.reason).where(ZoneEvent.kind == "exit")
        ).all()
    return sorted((subject, reason) for subject, reason in rows)


def test_presence_sweep_times_out_silent_devices_once(
    client: TestClient, db: Database, mall_id: int
) -> None:
    visit_ten_minutes_ago(client, db, mall_id)
    jobs = jobs_for(client)
    assert jobs.presence_sweep() == 1
    assert exits(db) == [("mall", "timeout"), ("zone", "timeout")]
    assert jobs.presence_sweep() == 0  # idempotent
    assert len(exits(db)) == 2


def test_the_sweep_never_waits_for_a_device_pinging_right_now(
    client: TestClient, db: Database, mall_id: int
) -> None:
    # A ping batch holds its device's row while the sweep runs: the sweep must pass that device
    # by, not queue behind it (they used to wait on each other, in opposite orders: deadlock).
    visit_ten_minutes_ago(client, db, mall_id)
    jobs = jobs_for(client)
    with db.sessions() as pinging, db.sessions() as sweeping:
        (device_id,) = pinging.execute(select(Presence.device_id)).one()
        pinging.execute(_LOCK, {"ids": [device_id]}).one()
        sweeping.execute(text("SET LOCAL lock_timeout = '3s'"))
        swept = sweep_presence(sweeping, jobs.cache, now=time.time(),
                               rules=presence_rules(jobs.settings), sink=jobs.sink)  # fmt: skip
        sweeping.commit()
        assert swept == 0
        pinging.rollback()
    assert jobs.presence_sweep() == 1  # once the batch is done, the device is swept
    assert exits(db) == [("mall", "timeout"), ("zone", "timeout")]


def test_a_job_another_replica_holds_is_skipped(
    client: TestClient, db: Database, mall_id: int
) -> None:
    visit_ten_minutes_ago(client, db, mall_id)
    jobs, other_replica = jobs_for(client), jobs_for(client)
    with other_replica.holding("presence_sweep") as mine:
        assert mine
        assert jobs.presence_sweep() is None
        assert exits(db) == []
    assert jobs.presence_sweep() == 1


def test_ping_retention_deletes_only_old_pings(
    client: TestClient, db: Database, mall_id: int
) -> None:
    _, lon, lat = starbucks(db, mall_id)
    device_id, headers = register(client, location=True)
    client.post("/v1/pings", headers=headers, json={"pings": [ping(time.time() - 5, lon, lat)]})
    with db.engine.begin() as conn:  # pings from before the retention (ingest refuses such)
        for days in (31, 45, 90):
            conn.execute(
                text("INSERT INTO pings (device_id, ts, mall_id, received_at, lon, lat, "
                     "accuracy_m, flags) VALUES (:d, :ts, :m, now(), :lon, :lat, 5, 0)"),
                {"d": device_id, "ts": datetime.now(UTC) - timedelta(days=days), "m": mall_id,
                 "lon": lon, "lat": lat},
            )  # fmt: skip
    assert count(db, Ping) == 4
    assert jobs_for(client).ping_retention() == 3
    assert count(db, Ping) == 1
    assert jobs_for(client).ping_retention() == 0


@pytest.mark.slow  # real time or a process of its own
def test_the_scheduler_runs_the_sweep_for_real(
    client: TestClient, db: Database, settings: Settings, mall_id: int
) -> None:
    visit_ten_minutes_ago(client, db, mall_id)
    fast = settings.model_copy(update={"presence_sweep_s": 0.2})
    scheduler = start_scheduler(create_app(fast, db))
    # Named as the jobs are, where APScheduler speaks of them (a job that overran, say).
    assert {job.name for job in scheduler.get_jobs()} >= {"presence_sweep", "member_lifecycle"}
    try:
        deadline = time.monotonic() + 20
        while len(exits(db)) < 2:
            assert time.monotonic() < deadline, "the scheduled sweep never ran"
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    assert exits(db) == [("mall", "timeout"), ("zone", "timeout")]


@pytest.mark.slow  # real time or a process of its own
def test_two_schedulers_sharing_the_database_run_a_singleton_job_once(
    client: TestClient, db: Database, settings: Settings
) -> None:
    """Two replicas schedule a slow job every 0.1 s: its runs never overlap, and the replica
    that finds the lock taken skips its run."""
    runs: list[tuple[str, float, float]] = []

    class SlowJobs(Jobs):
        name = ""

        def presence_sweep(self) -> int | None:
            with self.holding("presence_sweep") as mine:
                if not mine:
                    return None
                began = time.monotonic()
                time.sleep(0.3)
                runs.append((self.name, began, time.monotonic()))
                return 0

    fast = settings.model_copy(update={"presence_sweep_s": 0.1})
    state = client.app.state  # type: ignore[attr-defined]
    replicas = []
    for name in ("a", "b"):
        jobs = SlowJobs(state.database, fast, state.zone_cache, state.event_sink)
        jobs.name = name
        replicas.append(schedule(jobs, state.metrics))
    time.sleep(2.0)
    for scheduler in replicas:
        scheduler.shutdown(wait=True)
    runs.sort(key=lambda run: run[1])
    assert len(runs) >= 3
    for (_, _, end), (_, start, _) in itertools.pairwise(runs):
        assert start >= end  # never two at once
    skipped = sum(
        sample.value
        for metric in state.metrics.job_runs.collect()
        for sample in metric.samples
        if sample.labels.get("result") == "skipped" and sample.name.endswith("_total")
    )
    assert skipped > 0


def test_a_database_outage_is_one_log_line_per_job_not_one_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    from runtime.jobs import _logged

    answers: list[Exception | None] = [OperationalError("SELECT 1", {}, ConnectionError())] * 3
    answers.append(None)

    def presence_sweep() -> int:
        failure = answers.pop(0)
        if failure is not None:
            raise failure
        return 0

    run = _logged(presence_sweep, None)
    with caplog.at_level("INFO", logger="mallcast.jobs"):
        for _ in range(4):
            run()
    messages = [r.getMessage() for r in caplog.records if r.name == "mallcast.jobs"]
    assert messages == [
        "job presence_sweep: cannot reach the database (ConnectionError); retrying on schedule",
        "job presence_sweep runs again",
    ]
    assert all(r.exc_info is None for r in caplog.records)


SCHEDULED = sorted(
    name for name, value in vars(Jobs).items()
    if callable(value) and not name.startswith("_") and name != "holding"
)  # fmt: skip


def test_every_job_runs_on_a_new_deployment(
    client: TestClient, db: Database, platform: dict[str, str], bare_mall: dict[str, Any]
) -> None:
    # What a mall has on its first day: a plan without receipts, members or pushes (the nightly
    # lifecycle once crashed on a mall without receipts, every night).
    assert len(SCHEDULED) >= 8
    jobs = jobs_for(client)
    for name in SCHEDULED:
        assert getattr(jobs, name)() is not None, name  # ran (None: another replica held it)
    _, headers = register(client, loyalty=True)
    linked = client.put("/v1/devices/me/member", headers=headers,
                        json={"member_id": "NEW-1", "mall_id": bare_mall["id"]})  # fmt: skip
    assert linked.status_code == 200, linked.text
    for name in SCHEDULED:
        assert getattr(jobs, name)() is not None, name
