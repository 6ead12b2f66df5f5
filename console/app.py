"""The console: mallcast's web pages for operators and tenant staff, under /console/.

Pages are rendered on the server (Jinja2, autoescaped) and change things through the very
JSON API machines use, with the session cookie in place of a key and the session's CSRF token
in a header (api.auth): one set of rules, validation and scopes for both. Everything a page
loads (Leaflet, our script and style) is served from the package: no CDN, no build step.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from console import operator_pages, session_pages, tenant_pages
from console.common import SignInRequired, templates
from console.headers import ConsoleHeaders

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> FastAPI:
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    for module in (session_pages, operator_pages, tenant_pages):
        app.include_router(module.router)
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_middleware(ConsoleHeaders)
    app.state.page_error = _error_page
    return app


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/sign-in?next={quote(target, safe='/')}", status_code=303)


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """What a page shows for a 4xx: the same status, a sentence, a way back."""
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "staff": None},
        status_code=status,
    )
