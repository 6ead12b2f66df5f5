"""The one error hierarchy of mallcast.

Services raise these; `api.errors` maps them to HTTP in one place. Each class carries a stable
`code` (what clients branch on) and an HTTP `status`; each instance a message that says what to
fix and optional `details` (which field, which feature, which coordinate).
"""

from __future__ import annotations

from typing import Any, ClassVar


class MallcastError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code  # type: ignore[misc]  # a more specific code for this instance


class BadRequest(MallcastError):
    code = "bad_request"
    status = 400


class InvalidInput(MallcastError):
    """Well-formed JSON whose content is not acceptable."""

    code = "validation_error"
    status = 422


class InvalidGeometry(InvalidInput):
    code = "invalid_geometry"


class Unauthorized(MallcastError):
    code = "unauthorized"
    status = 401


class Forbidden(MallcastError):
    """The caller is known but its role may not do this (never used for someone else's rows)."""

    code = "forbidden"
    status = 403


class NotFound(MallcastError):
    """Missing, or not visible to the caller: the two are indistinguishable on purpose."""

    code = "not_found"
    status = 404


class Conflict(MallcastError):
    code = "conflict"
    status = 409


class PreconditionFailed(MallcastError):
    """The caller acted on a version of the thing that is no longer the current one."""

    code = "precondition_failed"
    status = 412


class PayloadTooLarge(MallcastError):
    code = "payload_too_large"
    status = 413


class TooManyAttempts(MallcastError):
    code = "too_many_attempts"
    status = 429


class Unavailable(MallcastError):
    code = "unavailable"
    status = 503
