"""The database as every package sees it: the declarative base, the engine and its sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, MetaData, create_engine, func, make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.util import identity_key

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


_Row = TypeVar("_Row", bound=Base)


def utcnow() -> datetime:
    return datetime.now(UTC)


def lock_row(session: Session, model: type[_Row], ident: Any) -> _Row | None:
    """The row, read afresh and locked against other writers until the transaction ends.

    A read-then-write of a row that another request may change or delete at the same moment
    starts here: the later writer waits, then sees the row as committed (or gone: a 404, not a
    failed UPDATE). FOR NO KEY UPDATE: rows that refer to it can still be inserted meanwhile."""
    return session.get(model, ident, with_for_update={"key_share": True}, populate_existing=True)


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


def put_row(session: Session, model: type[Base], key: str, values: dict[str, Any]) -> None:
    """Insert or replace one row by its key, in one statement: two writers at once both succeed
    and the later wins (an ORM read-then-add has the later meet the key as a conflict)."""
    statement = pg_insert(model).values(values)
    others: dict[str, Any] = {name: value for name, value in values.items() if name != key}
    if "updated_at" in model.__table__.c and "updated_at" not in values:
        # The ORM's onupdate does not reach an upsert: a replaced row says when it changed (a
        # mall's rules are read from a cache that knows them by it).
        others["updated_at"] = func.now()
    session.execute(statement.on_conflict_do_update(index_elements=[key], set_=others))
    cached = session.identity_map.get(identity_key(model, (values[key],)))
    if cached is not None:
        session.expire(cached)  # the statement went past the ORM


_OVERFLOW = 8


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        # hide_parameters: a failed statement's message, and so any log of it, must not carry
        # the coordinates or push tokens it was called with. The overflow is for the dispatcher
        # and the jobs (each job holds two: its advisory lock's and its session's), so that a
        # busy API never starves them. Request threads are capped at pool_size (api.app):
        # connections opened past the pool are closed when returned, and reopening one per
        # request (a backend process each, prepared statements lost) costs more than the request.
        self.max_connections = pool_size + _OVERFLOW
        self.engine: Engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=_OVERFLOW,
            pool_pre_ping=True,
            hide_parameters=True,
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()


def libpq_conninfo(url: str, *, database: str | None = None) -> str:
    """A SQLAlchemy URL (also with `?host=/socket/dir`) as a libpq connection string."""
    parsed = make_url(url)
    host = parsed.query.get("host", parsed.host)
    port = parsed.query.get("port", parsed.port)
    return psycopg.conninfo.make_conninfo(
        host=host if isinstance(host, str) else None,
        port=str(port) if isinstance(port, str | int) else None,
        user=parsed.username,
        password=parsed.password,
        dbname=database or parsed.database,
    )
