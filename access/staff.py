"""Staff accounts of the console: people, where API keys are for machines.

A new account (or a forgotten password) gets a one-time link, printed by `mallcast users`
(there is no mail server); the person chooses a password there. Passwords are hashed with
Argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile). A browser that signs
in gets a server-side session: the cookie holds 32 random bytes, the row their SHA-256 and the
session's CSRF token, so signing out ends it at once on every replica.

Wrong passwords are counted per account and client address, and per address (access.throttle):
five in a row for one account from one address, or thirty for any accounts, hold that address
back for a quarter of an hour. No stranger can lock someone else out; every replica counts in the
same rows.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from access import throttle
from access.keys import check_scope
from access.models import StaffLink, StaffSession, StaffUser, StaffUserMall
from core.db import utcnow
from core.errors import Conflict, InvalidInput, NotFound, Unauthorized

# The one answer to every refused sign-in, with the way back in.
SIGN_IN_REFUSED = (
    "wrong email or password, or too many tries from here: try again in a quarter of an hour, "
    "or ask your mall's operator for a new sign-in link"
)
MIN_PASSWORD = 10
MAX_PASSWORD = 256  # Argon2 takes any length; a megabyte "password" is a denial of service

_hasher = PasswordHasher()
# Verified when the email is unknown, so that a wrong email costs what a wrong password does.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class IssuedLink:
    user: StaffUser
    token: str  # shown once, in the link; only its digest is stored


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    token: str  # the cookie's value
    csrf_token: str
    expires_at: datetime


def normal_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 254 or " " in email:
        raise InvalidInput(
            f"{email!r} is not an email address", code="invalid_email", details={"field": "email"}
        )
    return email


def create_user(
    session: Session,
    *,
    email: str,
    role: str,
    mall_ids: Sequence[int] = (),
    tenant_id: int | None = None,
    link_hours: float = 72,
) -> IssuedLink:
    email = normal_email(email)
    check_scope(session, role=role, mall_ids=mall_ids, tenant_id=tenant_id)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise Conflict(f"there is already an account for {email}", code="user_exists")
    user = StaffUser(
        email=email,
        role=role,
        all_malls=role == "operator" and not mall_ids,
        tenant_id=tenant_id,
        malls=[StaffUserMall(mall_id=mall_id) for mall_id in sorted(set(mall_ids))],
    )
    session.add(user)
    session.flush()
    return IssuedLink(user, _new_link(session, user, link_hours))


def reset_link(session: Session, email: str, *, link_hours: float = 72) -> IssuedLink:
    """A new one-time link for an existing account; earlier links stop working."""
    user = session.scalar(select(StaffUser).where(StaffUser.email == normal_email(email)))
    if user is None:
        raise NotFound(f"no account for {email}", code="user_not_found")
    return IssuedLink(user, _new_link(session, user, link_hours))


def ensure_user(
    session: Session, *, email: str, password: str, role: str, tenant_id: int | None = None
) -> StaffUser:
    """An account with this password, made or mended (the demo's: a known sign-in at each
    start, without a link to open)."""
    check_password(password)
    user = session.scalar(select(StaffUser).where(StaffUser.email == normal_email(email)))
    if user is None:
        user = create_user(session, email=email, role=role, tenant_id=tenant_id).user
    if not _verify(user.password_hash, password):
        user.password_hash = _hasher.hash(password)
    user.failed_signins, user.locked_until = 0, None
    session.flush()
    return user


def list_users(session: Session) -> Sequence[StaffUser]:
    return session.scalars(select(StaffUser).order_by(StaffUser.id)).all()


def delete_user(session: Session, email: str) -> None:
    user = session.scalar(select(StaffUser).where(StaffUser.email == normal_email(email)))
    if user is None:
        raise NotFound(f"no account for {email}", code="user_not_found")
    session.delete(user)  # its links and sessions go with it (ON DELETE CASCADE)
    session.flush()


def link_user(session: Session, token: str) -> StaffUser | None:
    """The account a live (unused, unexpired) link belongs to."""
    link = session.get(StaffLink, _digest(token))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    return session.get(StaffUser, link.staff_user_id)


def set_password(session: Session, token: str, password: str) -> StaffUser:
    """Use a one-time link: the account's password becomes `password`, its lock is lifted and
    its other sessions end (a reset after a stolen password must shut the thief out)."""
    user = link_user(session, token)
    if user is None:
        raise NotFound("this link is used or expired: ask for a new one", code="link_expired")
    check_password(password)
    user.password_hash = _hasher.hash(password)
    user.failed_signins, user.locked_until = 0, None
    session.execute(
        update(StaffLink).where(StaffLink.token_sha256 == _digest(token)).values(used_at=utcnow())
    )
    session.execute(delete(StaffSession).where(StaffSession.staff_user_id == user.id))
    session.flush()
    return user


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"the password needs at least {MIN_PASSWORD} characters",
            code="weak_password",
            details={"field": "password"},
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"the password may have at most {MAX_PASSWORD} characters",
            code="weak_password",
            details={"field": "password"},
        )


def sign_in(
    session: Session, email: str, password: str, *, address: str, hours: float = 12
) -> SignedIn:
    """A new session for the right email and password, from `address` (the client's).

    Every refusal is the same `SIGN_IN_REFUSED`, whatever the cause (an unknown email, a wrong
    password, too many tries), after the same Argon2 verification: the answer tells nobody
    who has an account. Wrong passwords count per account *and* address, and per address
    alone (`access.throttle`): a guesser is slowed where they guess from, and the account's
    owner, from anywhere else, signs in as ever."""
    now = utcnow()
    try:
        email = normal_email(email)
    except InvalidInput:
        email = ""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email)) if email else None
    keys = throttle.keys(email, address)
    held = throttle.held(session, keys, now)
    right = _verify(user.password_hash if user else None, password[:MAX_PASSWORD])
    if held or not right or user is None:
        if not held:
            throttle.failed(session, keys, now)
        raise Unauthorized(SIGN_IN_REFUSED, code="sign_in_refused")
    assert user.password_hash is not None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    throttle.cleared(session, keys)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    row = StaffSession(
        token_sha256=_digest(token),
        staff_user_id=user.id,
        csrf_token=csrf,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return SignedIn(user, token, csrf, row.expires_at)


def session_user(session: Session, token: str) -> tuple[StaffUser, StaffSession] | None:
    """The account and session a cookie stands for, while the session lives."""
    row = session.get(StaffSession, _digest(token))
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(StaffUser, row.staff_user_id)
    return None if user is None else (user, row)


def sign_out(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_sha256 == _digest(token)))


def forget_expired(session: Session) -> int:
    """Delete ended sessions and links (the scheduler's housekeeping)."""
    now = utcnow()
    ended = session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    session.execute(delete(StaffLink).where(StaffLink.expires_at <= now))
    return int(getattr(ended, "rowcount", 0) or 0)


def _new_link(session: Session, user: StaffUser, hours: float) -> str:
    session.execute(
        update(StaffLink)
        .where(StaffLink.staff_user_id == user.id, StaffLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    token = secrets.token_urlsafe(32)
    session.add(
        StaffLink(
            token_sha256=_digest(token),
            staff_user_id=user.id,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    session.flush()
    return token


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
