"""Console fixtures: the app with its console, accounts of each role, a signed-in client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from access import staff
from api.app import create_app
from console.app import install
from core.db import Database
from core.settings import Settings
from core.tenants.models import Tenant

PASSWORD = "a long enough password"


@pytest.fixture
def console(db: Database, settings: Settings) -> Iterator[TestClient]:
    app = install(create_app(settings, db, clock=None))  # as the client fixture of tests/
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def accounts(db: Database, mall: dict[str, Any]) -> dict[str, str]:
    """Emails of an operator of the demo mall, and of Starbucks' and adidas' staff."""
    with db.sessions() as session:
        tenants = {t.name: t.id for t in session.scalars(select(Tenant))}
        wanted = {
            "operator": ("ops@mall.example", "operator", None),
            "starbucks": ("bucks@mall.example", "tenant", tenants["STARBUCKS COFFEE"]),
            "adidas": ("adi@mall.example", "tenant", tenants["adidas"]),
        }
        made = {
            who: staff.create_user(session, email=email, role=role, tenant_id=tenant,
                                   mall_ids=[mall["id"]] if role == "operator" else []).user
            for who, (email, role, tenant) in wanted.items()
        }  # fmt: skip
        for user in made.values():
            staff.ensure_user(session, email=user.email, password=PASSWORD, role=user.role,
                              tenant_id=user.tenant_id)  # fmt: skip
        session.commit()
        return {who: user.email for who, user in made.items()}


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form, as a browser does; returns the session's CSRF token."""
    page = client.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = client.post("/console/sign-in", data={
        "email": email, "password": password, "form_token": token[1], "next": "/console/",
    }, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/console/", follow_redirects=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text
    return found[1]
