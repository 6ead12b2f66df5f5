"""Keys, roles and scopes; and the error contract every endpoint keeps."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from access.keys import revoke_key
from access.models import ApiKey
from api.app import create_app
from core.db import Database
from core.settings import Settings
from tests.support.api import bearer, create_mall, error_of, issue_key
from tests.support.ilc import mall_body, zone_feature


def test_keys_are_stored_hashed_and_shown_once(db: Database) -> None:
    key = issue_key(db, role="operator", label="ops")
    with db.sessions() as session:
        row = session.scalars(select(ApiKey)).one()
    secret = key.split("_", 2)[2]
    assert key.startswith(f"mc_{row.id}_")
    assert len(secret) >= 40
    assert secret.encode() not in row.secret_sha256
    assert len(row.secret_sha256) == 32


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_credentials"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_credentials"),
        ({"Authorization": "Bearer "}, "invalid_credentials"),
        ({"Authorization": "Bearer mc_000000000000_nottherightsecretatall"}, "invalid_credentials"),
        ({"Authorization": "Bearer garbage"}, "invalid_credentials"),
    ],
)
def test_missing_or_bad_credentials_are_401(
    client: TestClient, headers: dict[str, str], code: str
) -> None:
    response = client.get("/v1/malls", headers=headers)
    assert error_of(response, 401)["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_secret_and_revoked_keys_are_refused(client: TestClient, db: Database) -> None:
    key = issue_key(db, role="operator")
    key_id = key.split("_")[1]
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert client.get("/v1/malls", headers=bearer(tampered)).status_code == 401
    assert client.get("/v1/malls", headers=bearer(key)).status_code == 200
    with db.sessions() as session:
        revoke_key(session, key_id)
        session.commit()
    assert error_of(client.get("/v1/malls", headers=bearer(key)), 401)["code"] == (
        "invalid_credentials"
    )


def test_tenant_key_cannot_touch_operator_endpoints(
    client: TestClient, db: Database, platform: dict[str, str]
) -> None:
    mall = create_mall(client, platform)
    tenant = client.post(f"/v1/malls/{mall['id']}/tenants", headers=platform,
                         json={"name": "adidas", "category": "sportswear"}).json()  # fmt: skip
    store = bearer(issue_key(db, role="tenant", tenant_id=tenant["id"]))
    for method, path, body in [
        ("GET", "/v1/malls", None),
        ("POST", "/v1/malls", mall_body("Mine")),
        ("GET", f"/v1/malls/{mall['id']}", None),
        ("DELETE", f"/v1/malls/{mall['id']}", None),
        ("POST", f"/v1/malls/{mall['id']}/zones", zone_feature("F1", "adidas")),
        ("GET", f"/v1/malls/{mall['id']}/tenants", None),
    ]:
        response = client.request(method, path, json=body, headers=store)
        assert error_of(response, 403)["code"] == "wrong_role", (method, path)
    assert client.get(f"/v1/malls/{mall['id']}", headers=platform).status_code == 200


def test_key_creation_checks_its_scope(db: Database) -> None:
    from core.errors import InvalidInput, NotFound

    with pytest.raises(NotFound):
        issue_key(db, role="operator", mall_ids=[99])
    with pytest.raises(NotFound):
        issue_key(db, role="tenant", tenant_id=99)
    with pytest.raises(InvalidInput):
        issue_key(db, role="tenant")
    with pytest.raises(InvalidInput):
        issue_key(db, role="shopper")


def test_tenants_crud(client: TestClient, platform: dict[str, str]) -> None:
    mall = create_mall(client, platform)
    base = f"/v1/malls/{mall['id']}/tenants"
    created = client.post(base, json={"name": "UNIQLO", "category": "fashion"}, headers=platform)
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["mall_id"] == mall["id"]
    again = client.post(base, json={"name": "UNIQLO", "category": "fashion"}, headers=platform)
    assert error_of(again, 409)["code"] == "duplicate_name"
    patched = client.patch(f"{base}/{tenant['id']}", json={"category": "apparel"},
                           headers=platform)  # fmt: skip
    assert patched.json()["category"] == "apparel"
    assert [t["name"] for t in client.get(base, headers=platform).json()] == ["UNIQLO"]
    assert client.delete(f"{base}/{tenant['id']}", headers=platform).status_code == 204
    assert error_of(client.get(f"{base}/{tenant['id']}", headers=platform), 404)["code"] == (
        "tenant_not_found"
    )


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "code"),
    [
        ("POST", "/v1/malls", b'{"name": "x", ', 400, "malformed_json"),
        ("POST", "/v1/malls", b"[1, 2]", 422, "validation_error"),
        ("GET", "/v1/nowhere", None, 404, "not_found"),
        ("PUT", "/v1/malls", None, 405, "method_not_allowed"),
        ("GET", "/v1/malls/1/zones?level=0&level=1", None, 422, "repeated_parameter"),
        ("GET", f"/v1/malls/{2**63}", None, 422, "validation_error"),
        ("GET", "/v1/malls/0", None, 422, "validation_error"),
    ],
)
def test_error_contract(
    client: TestClient,
    platform: dict[str, str],
    method: str,
    path: str,
    content: bytes | None,
    status: int,
    code: str,
) -> None:
    headers = platform | {"Content-Type": "application/json"}
    response = client.request(method, path, content=content, headers=headers)
    assert error_of(response, status)["code"] == code


def test_oversized_body_is_413(db: Database, settings: Settings, platform: dict[str, str]) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    with TestClient(create_app(small, db), raise_server_exceptions=False) as client:
        body = mall_body()  # the real footprint alone is over 3 kB
        response = client.post("/v1/malls", json=body, headers=platform)
        assert error_of(response, 413)["code"] == "payload_too_large"

        def chunks() -> Any:  # no Content-Length: counted while streaming
            yield b'{"name": "'
            yield b"x" * 8000
            yield b'"}'

        streamed = client.post("/v1/malls", content=chunks(), headers=platform)
        assert error_of(streamed, 413)["code"] == "payload_too_large"


def test_head_is_a_get_without_its_body(client: TestClient, platform: dict[str, str]) -> None:
    # What uptime checks and `curl -I` send; a 405 would contradict its own Allow header.
    for path, headers in (("/health", {}), ("/v1/malls", platform)):
        got, head = client.get(path, headers=headers), client.head(path, headers=headers)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-length"] == got.headers["content-length"]
    refused = client.head("/v1/pings")  # POST only
    assert (refused.status_code, refused.headers["allow"]) == (405, "POST")


def test_health_reports_postgis(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["database"]["postgresql"].startswith(("15", "16", "17"))
    assert health["database"]["postgis"].startswith("3.")


def test_health_is_503_when_the_database_is_down(settings: Settings) -> None:
    down = Database("postgresql+psycopg://nobody@/none?host=/nonexistent&port=1")
    with TestClient(create_app(settings, down), raise_server_exceptions=False) as client:
        response = client.get("/health")
        register = client.post("/v1/devices", json={"platform": "android"})
        metrics = client.get("/metrics")
    assert error_of(response, 503)["code"] == "database_unavailable"
    assert error_of(register, 503)["code"] == "database_unavailable"
    for answer in (response, register):
        assert int(answer.headers["Retry-After"]) > 0  # clients wait, then retry
    # The scrape still works, and says the outbox is unknown rather than empty.
    assert metrics.status_code == 200
    lines = metrics.text.splitlines()
    assert "mallcast_database_up 0.0" in lines
    assert "mallcast_outbox_due NaN" in lines
    down.dispose()


def test_openapi_documents_the_operator_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/v1/malls",
        "/v1/malls/{mall_id}",
        "/v1/malls/{mall_id}/levels/{ordinal}",
        "/v1/malls/{mall_id}/zones",
        "/v1/malls/{mall_id}/zones/import",
        "/v1/malls/{mall_id}/zones/{zone_id}",
        "/v1/malls/{mall_id}/tenants",
        "/health",
    ]:
        assert path in paths, path  # fmt: skip
    create = paths["/v1/malls"]["post"]
    assert create["summary"]
    assert {"401", "403", "409", "422"} <= set(create["responses"])


def test_database_errors_do_not_carry_parameter_values(database: Database) -> None:
    """Error messages end up in logs: coordinates and push tokens must not be in them."""
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as caught, database.engine.connect() as conn:
        conn.execute(text("SELECT CAST(:lon AS float8) / 0, :token"),
                     {"lon": 120.0763067, "token": "fcm-secret-token"})  # fmt: skip
    message = str(caught.value)
    assert "division by zero" in message
    assert "120.0763067" not in message
    assert "fcm-secret-token" not in message
