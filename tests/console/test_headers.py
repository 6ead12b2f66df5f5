"""Every console answer carries its security headers (issue 28): a content security policy
that loads nothing from elsewhere and forbids framing, nosniff, a same-origin referrer, and no
cache of a signed-in page. The API's answers are left as they were."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from console import operator_pages, session_pages, tenant_pages
from console.headers import POLICY
from tests.console.conftest import sign_in


def console_pages(mall_id: int) -> list[str]:
    """Every page of the console, its path parameters filled in."""
    paths = []
    for module in (operator_pages, session_pages, tenant_pages):
        for route in module.router.routes:
            if isinstance(route, APIRoute) and "GET" in (route.methods or set()):
                paths.append(route.path.format(mall_id=mall_id, promotion_id=1))
    return sorted(set(paths))


def assert_console_headers(answer: Any, *, page: bool) -> None:
    headers = answer.headers
    assert headers["content-security-policy"] == POLICY, answer.url
    assert "frame-ancestors 'none'" in POLICY
    assert "default-src 'self'" in POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    if page:
        assert headers["cache-control"] == "no-store", answer.url


def test_every_console_page_as_every_role_says_what_the_browser_may_do(
    console: TestClient, accounts: dict[str, str], mall: dict[str, Any]
) -> None:
    pages = console_pages(mall["id"])
    assert len(pages) >= 15
    for who in (None, "operator", "starbucks"):
        console.cookies.clear()
        if who is not None:
            sign_in(console, accounts[who])
        for path in pages:
            answer = console.get(path, follow_redirects=False)
            assert answer.status_code < 500, (who, path)
            assert_console_headers(answer, page=True)
    script = console.get("/console/static/map.js")
    assert script.status_code == 200
    assert_console_headers(script, page=False)
    assert "no-store" not in script.headers.get("cache-control", "")


def test_the_api_s_answers_are_not_the_console_s(console: TestClient) -> None:
    health = console.get("/health")
    assert "content-security-policy" not in health.headers
