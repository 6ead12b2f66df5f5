"""The console over HTTP: sign-in, the API with a session cookie, CSRF, scopes, escaping."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from access import staff
from api.gate import SESSION_COOKIE
from core.db import Database
from tests.console.conftest import PASSWORD, sign_in
from tests.support.api import error_of, starbucks

OFFER = {"title": "Two coffees", "body": "The second is on us", "category": "cafe",
         "targets": {"mall": True}}  # fmt: skip


def test_a_page_asks_for_a_sign_in_and_comes_back_after_it(
    console: TestClient, accounts: dict[str, str]
) -> None:
    first = console.get("/console/offers?x=1", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/console/sign-in?next=/console/offers%3Fx%3D1"
    page = console.get(first.headers["location"])
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token
    assert 'name="next" value="/console/offers?x=1"' in page.text
    answer = console.post("/console/sign-in", data={"email": accounts["starbucks"],
        "password": PASSWORD, "form_token": token[1], "next": "/console/offers?x=1"},
        follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/offers?x=1"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert console.get("/console/offers").status_code == 200


def test_only_console_paths_are_followed_after_signing_in(
    console: TestClient, accounts: dict[str, str]
) -> None:
    for target in ("https://evil.example/", "//evil.example/console/", "/v1/malls"):
        page = console.get("/console/sign-in", params={"next": target})
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert token
        answer = console.post("/console/sign-in", data={"email": accounts["operator"],
            "password": PASSWORD, "form_token": token[1], "next": target},
            follow_redirects=False)  # fmt: skip
        assert answer.headers["location"] == "/console/", target


def test_a_wrong_password_is_said_on_the_page_and_a_forged_form_is_refused(
    console: TestClient, accounts: dict[str, str]
) -> None:
    page = console.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token
    wrong = console.post("/console/sign-in", data={"email": accounts["operator"],
        "password": "not the password", "form_token": token[1]})  # fmt: skip
    assert wrong.status_code == 401
    assert "wrong email or password" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    # Another site can post the form, but not with our form cookie's value.
    console.cookies.clear()
    forged = console.post("/console/sign-in", data={"email": accounts["operator"],
        "password": PASSWORD, "form_token": "guessed"}, follow_redirects=False)  # fmt: skip
    assert forged.status_code == 403
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")


def test_the_api_takes_the_session_and_refuses_a_change_without_the_csrf_token(
    console: TestClient, accounts: dict[str, str]
) -> None:
    csrf = sign_in(console, accounts["starbucks"])
    assert console.get("/v1/tenant/me").json()["name"] == "STARBUCKS COFFEE"
    refused = console.post("/v1/tenant/promotions", json=OFFER)
    assert error_of(refused, 403)["code"] == "csrf_failed"
    wrong = console.post("/v1/tenant/promotions", json=OFFER, headers={"X-CSRF-Token": "x" * 43})
    assert error_of(wrong, 403)["code"] == "csrf_failed"
    assert console.get("/v1/tenant/promotions").json() == []  # nothing was stored
    made = console.post("/v1/tenant/promotions", json=OFFER, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text


def test_a_session_has_its_role_s_scope_on_pages_and_api(
    console: TestClient, accounts: dict[str, str], mall: dict[str, Any]
) -> None:
    csrf = sign_in(console, accounts["adidas"])
    theirs = console.post("/v1/tenant/promotions", json=OFFER, headers={"X-CSRF-Token": csrf})
    assert theirs.status_code == 201
    offer_id = theirs.json()["id"]
    assert console.get(f"/console/offers/{offer_id}").status_code == 200
    console.cookies.clear()

    sign_in(console, accounts["starbucks"])
    page = console.get(f"/console/offers/{offer_id}")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "Two coffees" not in page.text
    assert error_of(console.get(f"/v1/tenant/promotions/{offer_id}"), 404)
    assert error_of(console.get("/v1/malls"), 403)["code"] == "wrong_role"
    assert console.get("/console/malls").status_code == 403
    console.cookies.clear()

    sign_in(console, accounts["operator"])
    assert console.get(f"/console/malls/{mall['id']}/map").status_code == 200
    assert console.get(f"/console/malls/{mall['id'] + 1}/map").status_code == 404
    assert error_of(console.get(f"/v1/malls/{mall['id'] + 1}"), 404)
    assert console.get("/console/till").status_code == 403


def test_sign_out_ends_the_session_on_the_server_not_only_in_the_browser(
    console: TestClient, accounts: dict[str, str]
) -> None:
    csrf = sign_in(console, accounts["starbucks"])
    cookie = console.cookies[SESSION_COOKIE]
    no_token = console.post("/console/sign-out", follow_redirects=False)
    assert no_token.status_code == 403
    out = console.post("/console/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/console/sign-in?signed_out=1"
    console.cookies.clear()
    console.cookies.set(SESSION_COOKIE, cookie)  # a copy kept of the old cookie
    assert error_of(console.get("/v1/tenant/me"), 401)["code"] == "signed_out"
    assert console.get("/console/offers", follow_redirects=False).status_code == 303


def test_a_one_time_link_sets_the_password_and_signs_in(console: TestClient, db: Database) -> None:
    with db.sessions() as session:
        link = staff.create_user(session, email="new@mall.example", role="operator").token
        session.commit()
    console.headers["Accept"] = "application/json"  # as the page's script asks
    page = console.get("/console/link")
    assert page.status_code == 200
    form_token = re.search(r'data-form-token="([^"]+)"', page.text)
    assert form_token
    short = console.post("/console/link", json={"token": link, "password": "short",
                                                "form_token": form_token[1]})  # fmt: skip
    assert error_of(short, 422)["details"] == {"field": "password"}
    done = console.post("/console/link", json={"token": link, "password": PASSWORD,
                                               "form_token": form_token[1]})  # fmt: skip
    assert done.status_code == 200, done.text
    assert console.get("/console/malls").status_code == 200
    form_token = re.search(r'data-form-token="([^"]+)"', console.get("/console/link").text)
    assert form_token
    again = console.post("/console/link", json={"token": link, "password": PASSWORD,
                                                "form_token": form_token[1]})  # fmt: skip
    assert error_of(again, 404)["code"] == "link_expired"


def test_names_from_users_are_text_on_every_page(
    console: TestClient, accounts: dict[str, str], mall: dict[str, Any], db: Database
) -> None:
    markup = "<script>alert(1)</script>"
    csrf = sign_in(console, accounts["starbucks"])
    made = console.post("/v1/tenant/promotions", json=OFFER | {"title": markup},
                        headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert made.status_code == 201
    for path in ("/console/offers", f"/console/offers/{made.json()['id']}"):
        page = console.get(path).text
        assert markup not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
    console.cookies.clear()
    csrf = sign_in(console, accounts["operator"])
    _, lon, lat = starbucks(db, mall["id"])
    ring = [[lon, lat], [lon + 2e-5, lat], [lon + 2e-5, lat + 2e-5], [lon, lat]]
    zone = console.post(f"/v1/malls/{mall['id']}/zones", headers={"X-CSRF-Token": csrf}, json={
        "type": "Feature", "properties": {"name": markup, "kind": "event_area", "level": 0},
        "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    assert zone.status_code == 201, zone.text
    page = console.get(f"/console/malls/{mall['id']}/map").text
    assert markup not in page
    assert r"\u003cscript\u003ealert(1)\u003c/script\u003e" in page
