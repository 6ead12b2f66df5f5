"""The one settings object: every knob is a `MALLCAST_*` environment variable (or `.env` entry)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MALLCAST_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL+PostGIS URL. Unset: mallcast runs its own embedded cluster.",
    )
    home: Path = Field(
        default=Path(".mallcast"), description="Where the embedded cluster and local state live."
    )
    host: str = Field(default="127.0.0.1", description="Address `mallcast serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `mallcast serve` uses.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API processes of `mallcast serve`; with more than one, the dispatcher and "
        "the jobs run in the parent process.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    otel: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry: traces, metrics and logs through the "
        "globally configured providers. Off, it costs nothing; on, even unconfigured, it is "
        "checked on every request.",
    )

    pg_bin: Path | None = Field(
        default=None, description="Directory of the PostgreSQL binaries (found when unset)."
    )
    pg_user: str | None = Field(
        default=None,
        description="Unprivileged user that runs the embedded cluster when mallcast runs as root "
        "(default: postgres, else nobody).",
    )
    embedded_watch_s: float = Field(
        default=3.0,
        gt=0,
        le=3600,
        description="How often a process using the embedded cluster checks that it still runs, "
        "and starts it again if it died (docs/deployment.md).",
    )

    ingest_lanes: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Ping transactions a process runs at once; requests arriving meanwhile "
        "are ingested together, as one group, in the next (measured best: 1, bench/e2e.py).",
    )
    db_pool_size: int = Field(
        default=16,
        ge=1,
        le=200,
        description="Database connections a process keeps open; as many request threads run "
        "at once (a few more connections serve the dispatcher and the jobs).",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_zone_vertices: int = Field(
        default=20_000, ge=4, description="Most vertices one zone geometry may have."
    )
    max_import_features: int = Field(
        default=5_000, ge=1, description="Most features one FeatureCollection import may hold."
    )
    footprint_tolerance_m: float = Field(
        default=1.0,
        ge=0,
        description="How far (metres) a zone may stick out of the mall footprint.",
    )

    secret_key: str | None = Field(
        default=None,
        description="Secret that signs device tokens (unset: one made once, kept in the database).",
    )

    ping_batch_max: int = Field(default=500, ge=1, le=10_000, description="Most pings per batch.")
    ping_future_s: float = Field(
        default=300, ge=0, description="How far ahead of the server clock a ping may be."
    )
    ping_horizon_s: float = Field(
        default=86_400, gt=0, description="How old a ping may be when it arrives."
    )
    ping_retention_days: float = Field(
        default=30, gt=0, description="Raw pings older than this are deleted."
    )
    mall_radius_m: float = Field(
        default=100, ge=0, description="Pings this close to a mall's footprint belong to it."
    )
    presence_timeout_s: float = Field(
        default=600, gt=0, description="No ping for this long ends a visit (exit events)."
    )
    exit_margin_m: float = Field(
        default=4, ge=0, description="How far outside a zone a ping must be to exit it."
    )
    enter_circle_share: float = Field(
        default=0.5, gt=0, le=1, description="Share of the accuracy circle inside a zone to enter."
    )
    enter_confidence: float = Field(
        default=0.9,
        ge=0.5,
        le=0.999,
        description="How sure occupancy inference must be that a shopper stands in a store "
        "before it enters it: lower enters sooner and more often wrongly (measured in "
        "docs/geofencing.md, section 6).",
    )
    max_accuracy_m: float = Field(
        default=50, gt=0, description="Pings less accurate than this cause no transition."
    )
    max_speed_mps: float = Field(
        default=15, gt=0, description="Faster implied movement is flagged (a teleport)."
    )
    scheduler: bool = Field(default=True, description="Run the scheduled jobs in `mallcast serve`.")
    presence_sweep_s: float = Field(
        default=30, gt=0, description="How often silent devices are checked for the timeout."
    )
    ping_retention_sweep_s: float = Field(
        default=3600, gt=0, description="How often raw pings past the retention are deleted."
    )
    segment_recompute_hour_utc: int = Field(
        default=19,
        ge=0,
        le=23,
        description="Hour (UTC) of the nightly segment recompute and member lifecycle (the "
        "lifetime model's fit); 19 is 03:00 in Shanghai. They also run when the scheduler "
        "starts.",
    )
    outreach_s: float = Field(
        default=60,
        gt=0,
        description="How often members who entered a segment are reached out to (within the "
        "mall's send windows).",
    )
    analytics_rollup_s: float = Field(
        default=3600,
        gt=0,
        description="How often the daily analytics of recent days are rolled up.",
    )
    analytics_rollup_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Local days the roll-up rebuilds each run (late opens and redemptions "
        "land in them).",
    )
    firebase_credentials: Path | None = Field(
        default=None,
        description="Service-account JSON of your Firebase project; unset: the local FCM server.",
    )
    fcm_url: str | None = Field(
        default=None,
        description="An FCM-compatible server already running (e.g. `python -m push.fcm_server`) "
        "to use instead of starting one; ignored with Firebase credentials.",
    )
    fcm_local_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the local FCM server (0: any free one)."
    )
    dispatcher: bool = Field(default=True, description="Run the push dispatcher in serve.")
    worker_metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Port on MALLCAST_HOST where `mallcast worker` serves /metrics (0: none).",
    )
    fcm_concurrency: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Messages a dispatcher has in flight at once. FCM answers in tens of "
        "milliseconds, so this bounds throughput (20 in flight at 50 ms: 400 messages/s per "
        "dispatcher); they are shared out over firebase-admin apps, 4 each, each app with "
        "its own HTTP connections.",
    )
    push_ttl_s: float = Field(
        default=900,
        gt=0,
        description="An offer's shelf life after the zone event: an event uploaded later gets no "
        "push, and a push not sent within it is never sent.",
    )
    push_max_attempts: int = Field(default=8, ge=1, description="Attempts before dead-lettering.")
    push_quota_backoff_s: float = Field(
        default=60, ge=0, description="Least wait after FCM's 429 (quota exceeded)."
    )
    push_lease_s: float = Field(
        default=60, gt=0, description="How long a claimed delivery stays with its dispatcher."
    )
    zone_refresh_s: float = Field(
        default=1.0, ge=0, description="How often a replica checks whether zones changed."
    )
    public_url: str | None = Field(
        default=None,
        description="Where people open the console (the links `mallcast users` prints, the "
        "Secure cookie when https); unset: http://HOST:PORT.",
    )
    console_session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="How long a console sign-in lasts."
    )
    signin_link_hours: float = Field(
        default=72, gt=0, le=24 * 30, description="How long a one-time sign-in link works."
    )

    @property
    def console_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/") + "/console/"
        host = f"[{self.host}]" if ":" in self.host else self.host
        host = "127.0.0.1" if host in ("0.0.0.0", "[::]") else host  # noqa: S104
        return f"http://{host}:{self.port}/console/"

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str | None) -> str | None:
        """Accept URLs as people paste them (postgres://, postgresql://); pin psycopg 3."""
        if not url:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
