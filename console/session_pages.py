"""Signing in and out, and the one-time links that set a password."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from access import staff as accounts
from api.deps import SessionDep, UnitOfWorkRoute
from api.gate import SESSION_COOKIE
from console.common import StaffDep, safe_next, secure_cookies, templates
from core.errors import Forbidden, MallcastError
from core.settings import Settings

router = APIRouter(prefix="/console", include_in_schema=False, route_class=UnitOfWorkRoute)

# Before a session exists, forms carry a token that must equal this cookie (double submit):
# another site can make a browser post our sign-in form, but cannot read or set our cookie.
FORM_COOKIE = "mallcast_form"


@router.get("/", response_class=HTMLResponse)
def home(staff: StaffDep) -> Response:
    return RedirectResponse(
        "/console/malls" if staff.role == "operator" else "/console/offers", status_code=303
    )


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return _sign_in_form(request, safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/console/",
) -> Response:
    _check_form_token(request, form_token)
    settings: Settings = request.app.state.settings
    try:
        signed = accounts.sign_in(
            session,
            email,
            password,
            address=_address(request),
            hours=settings.console_session_hours,
        )
    except MallcastError as exc:
        return _sign_in_form(
            request, safe_next(next), error=exc.message, email=email, status=exc.status
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    _set_session(request, response, signed.token, settings.console_session_hours)
    return response


@router.get("/link", response_class=HTMLResponse)
def link_page(request: Request) -> Response:
    """The page a one-time link opens; the token is in the fragment (#...), which the browser
    keeps to itself: the page's script sends it with the new password."""
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request, "link.html", {"staff": None, "form_token": token, "min": accounts.MIN_PASSWORD}
    )
    _set_form_cookie(request, response, token)
    return response


class NewPassword(BaseModel):
    token: str = Field(min_length=10, max_length=100)
    password: str = Field(max_length=1024)
    form_token: str = Field(max_length=100)


@router.post("/link")
def use_link(body: NewPassword, request: Request, session: SessionDep) -> Response:
    _check_form_token(request, body.form_token)
    user = accounts.set_password(session, body.token, body.password)
    settings: Settings = request.app.state.settings
    signed = accounts.sign_in(
        session,
        user.email,
        body.password,
        address=_address(request),
        hours=settings.console_session_hours,
    )
    response = JSONResponse({"next": "/console/"})
    _set_session(request, response, signed.token, settings.console_session_hours)
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    session: SessionDep,
    staff: StaffDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not hmac.compare_digest(csrf_token.encode(), staff.csrf_token.encode()):
        raise Forbidden(
            "this form lacks the console's CSRF token: reload the page", code="csrf_failed"
        )
    accounts.sign_out(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/console/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure_cookies(request), httponly=True, samesite="lax"
    )
    return response


def _sign_in_form(
    request: Request, next_: str, *, error: str | None = None, email: str = "", status: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request,
        "sign_in.html",
        {
            "staff": None,
            "next": next_,
            "error": error,
            "email": email,
            "form_token": token,
            "signed_out": request.query_params.get("signed_out") == "1",
        },
        status_code=status,
    )
    _set_form_cookie(request, response, token)
    return response


def _set_form_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=3600,
        path="/console/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def _check_form_token(request: Request, token: str) -> None:
    expected = request.cookies.get(FORM_COOKIE, "")
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("this form has expired: reload the page and try again", code="csrf_failed")


def _set_session(request: Request, response: Response, token: str, hours: float) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    response.delete_cookie(FORM_COOKIE, path="/console/")


def _address(request: Request) -> str:
    """The client's address, as the server sees it (behind a reverse proxy, uvicorn's
    --proxy-headers and --forwarded-allow-ips make it the client's: docs/deployment.md)."""
    return request.client.host if request.client else "unknown"
