"""What every `mallcast` command shares: the console it speaks on and how it fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from access.models import ApiKey, StaffUser
from core.db import Database
from core.settings import get_settings
from runtime.database import database_url
from runtime.pg_host import EmbeddedError

console = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


def say(message: str) -> None:
    console.print(message, highlight=False)


@contextmanager
def open_database() -> Iterator[Database]:
    """The running database (keys are made for a service that is up, or its embedded cluster
    started with `mallcast db start`)."""
    settings = get_settings()
    try:
        database = Database(database_url(settings), pool_size=1)
    except EmbeddedError as exc:
        raise fail(str(exc)) from None
    try:
        yield database
    finally:
        database.dispose()


def scope_text(row: ApiKey | StaffUser) -> str:
    """Whom a key or an account acts for, as `keys list` and `users list` print it."""
    if row.role == "tenant":
        return f"tenant {row.tenant_id}"
    return "all malls" if row.all_malls else f"malls {[m.mall_id for m in row.malls]}"
