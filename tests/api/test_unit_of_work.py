"""One request, one transaction: the session dependency commits when the handler returns and
rolls back when it raises; the zone cache is dropped after a commit that changed zones, never
before it and never after a rollback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.deps import SessionDep
from api.errors import install_error_handlers
from core.db import Database
from core.errors import Conflict
from core.settings import Settings
from core.tenants.models import Tenant
from geofence.cache import mark_zones_changed
from tests.support.api import error_of, ping, register, starbucks, stay


class SpyCache:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.invalidated_with_tenants: list[int] = []

    def invalidate(self) -> None:
        # What a fresh session sees at this moment: the commit must be visible already.
        with self.db.sessions() as session:
            self.invalidated_with_tenants.append(session.scalar(select(func.count(Tenant.id))) or 0)


@pytest.fixture
def spy_app(db: Database, mall_id: int) -> Iterator[tuple[TestClient, SpyCache]]:
    app = FastAPI()
    app.state.database = db
    app.state.zone_cache = cache = SpyCache(db)
    install_error_handlers(app)

    @app.post("/tenants/{name}")
    def add(name: str, session: SessionDep, fail: bool = False, zones: bool = False) -> int:
        tenant = Tenant(mall_id=mall_id, name=name, category="test")
        session.add(tenant)
        session.flush()
        if zones:
            mark_zones_changed(session)
        if fail:
            raise Conflict("refused after the flush", code="refused")
        return tenant.id

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, cache


def tenants(db: Database, name: str) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count(Tenant.id)).where(Tenant.name == name)) or 0


def test_what_a_handler_flushes_is_committed_before_the_answer(
    spy_app: tuple[TestClient, SpyCache], db: Database
) -> None:
    client, cache = spy_app
    assert client.post("/tenants/kept").status_code == 200
    assert tenants(db, "kept") == 1
    assert cache.invalidated_with_tenants == []  # no zones changed: the cache stays


def test_a_handler_that_raises_leaves_nothing_behind(
    spy_app: tuple[TestClient, SpyCache], db: Database
) -> None:
    client, cache = spy_app
    answer = client.post("/tenants/gone", params={"fail": True, "zones": True})
    assert error_of(answer, 409)["code"] == "refused"
    assert tenants(db, "gone") == 0
    assert cache.invalidated_with_tenants == []  # rolled back: nothing to drop


def test_the_zone_cache_is_dropped_after_the_commit(
    spy_app: tuple[TestClient, SpyCache], db: Database
) -> None:
    client, cache = spy_app
    with db.sessions() as session:
        existing = session.scalar(select(func.count(Tenant.id))) or 0
    assert client.post("/tenants/zoned", params={"zones": True}).status_code == 200
    assert cache.invalidated_with_tenants == [existing + 1]  # it saw the committed row


def test_a_deleted_zone_stops_matching_at_once_on_this_process(
    db: Database, settings: Settings, mall_id: int, platform: dict[str, str]
) -> None:
    # Replicas notice zone changes within zone_refresh_s; the process that made the change
    # must not wait that long. An hour here: only the after-commit drop can explain a miss.
    from api.app import create_app

    slow = settings.model_copy(update={"zone_refresh_s": 3600.0})
    with TestClient(create_app(slow, db), raise_server_exceptions=False) as client:
        zone_id, lon, lat = starbucks(db, mall_id)
        _, headers = register(client, location=True)
        now = time.time()
        first = client.post("/v1/pings", headers=headers, json={"pings": stay(lon, lat, now - 90)})
        assert zone_id in [e["zone_id"] for e in first.json()["events"]]  # the index is built
        deleted = client.delete(f"/v1/malls/{mall_id}/zones/{zone_id}", headers=platform)
        assert deleted.status_code == 204
        later = client.post(
            "/v1/pings", headers=headers, json={"pings": [ping(now - 50, lon, lat)]}
        )
        exits = [(e["zone_id"], e["reason"]) for e in later.json()["events"] if e["kind"] == "exit"]
        assert exits == [(zone_id, "zone_removed")]


def test_concurrent_writers_on_a_small_pool_all_finish(
    settings: Settings, database_url: str, db: Database, mall_id: int, platform: dict[str, str]
) -> None:
    # Each write holds a connection until its commit; request threads are capped at the pool
    # size. Commits waiting behind handlers that wait for a connection would never finish: the
    # commit has threads of its own (api.deps.get_session).
    from api.app import create_app

    small = Database(database_url, pool_size=2)
    try:
        with TestClient(create_app(settings, small), raise_server_exceptions=False) as client:

            def create(n: int) -> int:
                body = {"name": f"concurrent {n}", "category": "test"}
                url = f"/v1/malls/{mall_id}/tenants"
                return client.post(url, json=body, headers=platform).status_code

            with ThreadPoolExecutor(max_workers=24) as pool:
                statuses = list(pool.map(create, range(48)))
    finally:
        small.dispose()
    assert statuses == [201] * 48
    assert sum(tenants(db, f"concurrent {n}") for n in range(48)) == 48
