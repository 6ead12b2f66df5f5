"""Prometheus metrics (GET /metrics): what flows through mallcast, and how far behind it is.

Counters are per process (scrape every replica), except under `mallcast serve --workers N`,
which sets PROMETHEUS_MULTIPROC_DIR: then /metrics adds up the counters of all its processes.
The outbox gauges are read from the database at scrape time, so any replica reports the same,
current figures.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.engine import Engine

from push.dispatcher import TickResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: only start times


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.pings = Counter(
            "mallcast_pings",
            "Pings received, by what became of them",
            ["result"],
            registry=self.registry,
        )
        self.owntracks_dropped = Counter(
            "mallcast_owntracks_dropped",
            "OwnTracks payloads answered 2xx but not used, by why",
            ["reason"],
            registry=self.registry,
        )
        self.events = Counter(
            "mallcast_zone_events",
            "Zone events produced",
            ["kind", "subject"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "mallcast_decisions",
            "Promotion decisions, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "mallcast_deliveries",
            "Push deliveries, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.job_runs = Counter(
            "mallcast_job_runs",
            "Scheduled job runs, by job and result",
            ["job", "result"],
            registry=self.registry,
        )
        self.ingest_groups = Histogram(
            "mallcast_ingest_group_requests",
            "Ping requests ingested per transaction",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self._outbox = _OutboxCollector(engine)
        self.registry.register(self._outbox)

    def count_tick(self, result: TickResult) -> None:
        for outcome in (
            "sent",
            "retry",
            "dead_token",
            "failed",
            "expired",
            "no_address",
            "abandoned",
        ):
            value = getattr(result, outcome)
            if value:
                self.deliveries.labels(outcome).inc(value)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self._outbox)
            return generate_latest(registry)
        return generate_latest(self.registry)


class _OutboxCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "mallcast_database_up", "1 when this scrape could read the database, else 0"
        )
        depth = GaugeMetricFamily(
            "mallcast_outbox_due", "Deliveries due and not yet sent (held by a dispatcher too)"
        )
        age = GaugeMetricFamily(
            "mallcast_outbox_oldest_due_seconds", "How long the oldest due delivery has waited"
        )
        try:
            with self.engine.connect() as conn:
                count, oldest = conn.execute(
                    text(
                        # Claimed ones count too: held by a dispatcher that died, they would
                        # otherwise vanish from the gauge for a whole lease.
                        "SELECT count(*), min(next_attempt_at) FROM deliveries "
                        "WHERE (state IN ('pending', 'retry') AND next_attempt_at <= now()) "
                        "OR state = 'sending'"
                    )
                ).one()
        except Exception:  # the scrape still answers (counters matter most in an outage)
            # Unknown, not zero: a silent gap would look like an empty outbox. Alert on
            # mallcast_database_up == 0 (docs/deployment.md).
            up.add_metric([], 0.0)
            depth.add_metric([], math.nan)
            age.add_metric([], math.nan)
            yield from (up, depth, age)
            return
        up.add_metric([], 1.0)
        depth.add_metric([], float(count))
        waited = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        age.add_metric([], max(0.0, waited))
        yield from (up, depth, age)
