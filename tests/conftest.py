"""Fixtures on a real PostgreSQL + PostGIS: the embedded launcher's throwaway cluster, or the
server named by MALLCAST_TEST_DATABASE_URL. Every test run works in databases of its own."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, select

from api.app import create_app
from core.db import Database, libpq_conninfo
from core.settings import Settings
from core.tenants.models import Tenant
from runtime.embedded import ClusterState, EmbeddedPostgres
from runtime.migrate import upgrade
from tests.support.api import bearer, create_mall, issue_key
from tests.support.fresh import DemoMall, empty
from tests.support.shipped import stop_all


class TestServer:
    """A PostgreSQL server the tests may create and drop databases on."""

    __test__ = False

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)

    def url(self, database: str) -> str:
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def _admin(self) -> psycopg.Connection[Any]:
        url = self.admin_url.render_as_string(hide_password=False)
        return psycopg.connect(libpq_conninfo(url), autocommit=True)

    def create_database(self, prefix: str = "mallcast_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self._conninfo(name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _conninfo(self, database: str) -> str:
        url = self.admin_url.render_as_string(hide_password=False)
        return libpq_conninfo(url, database=database)


def private_tmpdir(prefix: str) -> Path:
    """A temporary directory the unprivileged PostgreSQL user can reach when we are root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@contextmanager
def mallcast_home(prefix: str = "mallcast-home-") -> Iterator[Path]:
    """A MALLCAST_HOME of its own; an embedded cluster left running there is stopped."""
    path = private_tmpdir(prefix)
    try:
        yield path
    finally:
        stop_all(path)
        cluster = EmbeddedPostgres(path)
        if cluster.status().state is ClusterState.RUNNING:
            cluster.stop()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def home() -> Iterator[Path]:
    with mallcast_home() as path:
        yield path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    external = os.environ.get("MALLCAST_TEST_DATABASE_URL")
    if external:
        yield TestServer(Settings(database_url=external).database_url or external)
        return
    home = private_tmpdir("mallcast-test-")
    cluster = EmbeddedPostgres(home, durable=False)
    cluster.start()
    try:
        yield TestServer(cluster.url("postgres"))
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(pg_server: TestServer) -> Iterator[str]:
    name = pg_server.create_database()
    url = pg_server.url(name)
    upgrade(url)
    yield url
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def demo_mall() -> DemoMall:
    return DemoMall()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The shared test database, emptied after each test."""
    yield database
    empty(database)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    # Tests walk at a past evening whatever the hour (tests/support/api.py, evening_now) and
    # promotions are decided at the walk's own instants; the shipped server's wall clock is
    # tested as shipped (tests/smoke) and with a clock of its own (late uploads).
    app = create_app(settings, db, clock=None)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def mall_id(db: Database, demo_mall: DemoMall) -> int:
    return demo_mall.seed(db)


@pytest.fixture
def bare_mall(client: TestClient, platform: dict[str, str]) -> dict[str, Any]:
    mall = create_mall(client, platform)
    for ordinal, name in [(-1, "B1"), (0, "F1"), (1, "F2")]:
        client.post(f"/v1/malls/{mall['id']}/levels", json={"ordinal": ordinal, "name": name},
                    headers=platform)  # fmt: skip
    return mall


@pytest.fixture
def mall(db: Database, demo_mall: DemoMall) -> dict[str, Any]:
    """The demo mall with keys for two of its tenants."""
    mall_id = demo_mall.seed(db)
    with db.sessions() as session:
        tenants = {t.name: t.id for t in session.scalars(select(Tenant))}
    return {
        "id": mall_id,
        "starbucks": bearer(issue_key(db, role="tenant", tenant_id=tenants["STARBUCKS COFFEE"])),
        "adidas": bearer(issue_key(db, role="tenant", tenant_id=tenants["adidas"])),
        "operator": bearer(issue_key(db, role="operator", mall_ids=[mall_id])),
    }


@pytest.fixture
def platform(db: Database) -> dict[str, str]:
    """Headers of the platform operator (a key for every mall)."""
    return bearer(issue_key(db, role="operator"))
