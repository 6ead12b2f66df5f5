"""The declarative base shared by every package's models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import MetaData
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session

from core.errors import Conflict

# Deterministic constraint names keep Alembic migrations and `alembic check` stable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def flush_or_conflict(session: Session, message: str, *, code: str = "duplicate_name") -> None:
    """Flush, turning a lost race on a unique constraint into the 409 its pre-check gives."""
    with raise_conflict(message, code=code, session=session):
        session.flush()


@contextmanager
def raise_conflict(
    message: str, *, code: str = "duplicate_name", session: Session | None = None
) -> Iterator[None]:
    """A unique constraint violated inside: the 409 its pre-check gives (rolling back)."""
    try:
        yield
    except IntegrityError as exc:
        if session is not None:
            session.rollback()
        raise Conflict(message, code=code) from exc
