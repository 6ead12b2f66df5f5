"""Where the database is: the configured URL, or the embedded cluster under MALLCAST_HOME."""

from __future__ import annotations

from core.settings import Settings, get_settings
from runtime.embedded import ClusterState, EmbeddedPostgres
from runtime.pg_host import EmbeddedError


def embedded_cluster(settings: Settings | None = None) -> EmbeddedPostgres:
    settings = settings or get_settings()
    return EmbeddedPostgres(settings.home, pg_bin=settings.pg_bin, pg_user=settings.pg_user)


def database_url(settings: Settings | None = None) -> str:
    """The configured URL, else the running embedded cluster's: for processes that join a
    database someone else started (API workers, `mallcast keys`, Alembic). Starting one is the
    lifecycle's (runtime.lifecycle)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    cluster = embedded_cluster(settings)
    if cluster.status().state is not ClusterState.RUNNING:
        raise EmbeddedError(
            f"the embedded PostgreSQL under {cluster.home} is not running: "
            "start it with `mallcast db start`, or set MALLCAST_DATABASE_URL"
        )
    return cluster.url()
