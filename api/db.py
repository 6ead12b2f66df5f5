"""The database engine and the one session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker


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
        self.engine: Engine = create_engine(
            url, pool_size=pool_size, max_overflow=8, pool_pre_ping=True, hide_parameters=True
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request. Async, so that opening it (no I/O: it connects on first use)
    and closing it after a commit (no I/O either) cost no thread hop; a session left in a
    transaction (a read, an error) is rolled back on a worker thread, off the event loop."""
    database: Database = request.app.state.database
    session = database.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


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
