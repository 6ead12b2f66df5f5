"""Wrong passwords, counted where they come from (console sign-in).

Two counters a refusal adds to: one per account and client address, one per address. The
first holds that address back from that account after `PER_ACCOUNT` wrong passwords in a row;
the second holds the address back from every account after `PER_ADDRESS` (a script trying one
password on many accounts). Either hold lasts `HOLD`, then the count starts again. A right
password clears its account's counter from that address. Counters are rows of
`signin_throttles`, keyed by digests of the email and address (neither is stored), updated in
one statement each: two replicas count into the same row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from access.models import SigninThrottle

PER_ACCOUNT = 5
PER_ADDRESS = 30
HOLD = timedelta(minutes=15)

_COUNT = text(
    """
    INSERT INTO signin_throttles (key, failures, locked_until, updated_at)
    VALUES (:key, 1, NULL, :now)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN signin_throttles.failures + 1 >= :limit THEN 0
                        ELSE signin_throttles.failures + 1 END,
        locked_until = CASE WHEN signin_throttles.failures + 1 >= :limit THEN :until
                            ELSE signin_throttles.locked_until END,
        updated_at = :now
    """
)


def keys(email: str, address: str) -> tuple[bytes, bytes]:
    """(the account from this address, this address)."""
    return _digest(f"{email}\n{address}"), _digest(f"\n{address}")


def held(session: Session, counters: Sequence[bytes], now: datetime) -> bool:
    """Whether either counter holds its address back now."""
    found = session.scalar(
        select(SigninThrottle.key).where(
            SigninThrottle.key.in_(list(counters)), SigninThrottle.locked_until > now
        )
    )
    return found is not None


def failed(session: Session, counters: tuple[bytes, bytes], now: datetime) -> None:
    for key, limit in zip(counters, (PER_ACCOUNT, PER_ADDRESS), strict=True):
        session.execute(_COUNT, {"key": key, "now": now, "limit": limit, "until": now + HOLD})


def cleared(session: Session, counters: tuple[bytes, bytes]) -> None:
    session.execute(delete(SigninThrottle).where(SigninThrottle.key == counters[0]))


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()
