"""The database engine and the one session dependency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        # hide_parameters: a failed statement's message, and so any log of it, must not carry
        # the coordinates or push tokens it was called with.
        self.engine: Engine = create_engine(
            url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, hide_parameters=True
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()


def get_session(request: Request) -> Iterator[Session]:
    database: Database = request.app.state.database
    with database.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


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
