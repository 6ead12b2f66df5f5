"""What an FCM answer means for a delivery. Pure: exceptions in, a verdict out.

- a message name: sent.
- UNREGISTERED, or INVALID_ARGUMENT about the token: dead_token (that address is never used
  again; the device stays).
- 429 / QUOTA_EXCEEDED: retry, no sooner than Retry-After and the quota backoff.
- 500, 503, UNAVAILABLE, INTERNAL, timeouts, connection errors: retry with exponential backoff
  and jitter, honouring Retry-After (firebase-admin has already retried 500/503 itself).
- INVALID_ARGUMENT about the payload, SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR, other 4xx:
  failed (dead-lettered with the error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firebase_admin import exceptions, messaging


@dataclass(frozen=True)
class Verdict:
    kind: str  # sent | retry | dead_token | failed
    message_name: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    quota: bool = False


def verdict(response: Any) -> Verdict:
    """A messaging.SendResponse as a verdict."""
    if response.success:
        return Verdict("sent", message_name=response.message_id)
    return classify(response.exception)


def classify(error: BaseException | None) -> Verdict:
    text = f"{type(error).__name__}: {error}"[:500]
    retry_after = _retry_after(error)
    if isinstance(error, messaging.UnregisteredError):
        return Verdict("dead_token", error=text)
    if isinstance(error, messaging.QuotaExceededError) or _status(error) == 429:
        return Verdict("retry", error=text, retry_after_s=retry_after, quota=True)
    if isinstance(error, messaging.SenderIdMismatchError | messaging.ThirdPartyAuthError):
        return Verdict("failed", error=text)
    if isinstance(error, exceptions.InvalidArgumentError):
        if _about_token(error):
            return Verdict("dead_token", error=text)
        return Verdict("failed", error=text)
    if isinstance(
        error,
        exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.DeadlineExceededError
        | exceptions.UnknownError,
    ):
        return Verdict("retry", error=text, retry_after_s=retry_after)
    status = _status(error)
    if status is None or status >= 500:  # no answer at all (connection, timeout), or a 5xx
        return Verdict("retry", error=text, retry_after_s=retry_after)
    return Verdict("failed", error=text)


def _status(error: BaseException | None) -> int | None:
    response = getattr(error, "http_response", None)
    return getattr(response, "status_code", None)


def _retry_after(error: BaseException | None) -> float | None:
    response = getattr(error, "http_response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from FCM; the backoff applies


def _about_token(error: BaseException) -> bool:
    """FCM answers INVALID_ARGUMENT both for a malformed token and for a bad payload."""
    response = getattr(error, "http_response", None)
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        body = {}
    for detail in (body.get("error") or {}).get("details", []):
        for violation in detail.get("fieldViolations", []):
            if violation.get("field") in ("message.token", "message.fid"):
                return True
    return "registration token" in str(error).lower()
