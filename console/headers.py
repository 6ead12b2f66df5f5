"""What every console answer tells the browser about itself: load nothing from elsewhere, never
inside another site's frame, no guessing of types, no referrer beyond the console, and no copy
of a signed-in page in any cache.

A plain ASGI wrapper (no per-request task or body buffering): the API's hot path, which never
answers under /console, is not touched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts, styles, images and calls from the console itself: an offer's image on a tenant's
# host is not loaded (the phone shows it; the console would tell that host who looks).
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_ALWAYS = {
    "content-security-policy": POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class ConsoleHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/console"):
            await self.app(scope, receive, send)
            return
        static = path.startswith("/console/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    headers[name] = value
                if not static:  # pages and their answers: personal, never cached
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)
