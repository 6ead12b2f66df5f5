"""A fresh database for every test, cheaply: most of the fast lane's time went to emptying
every table and seeding the demo mall's 1,286 zones again for each test."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from sqlalchemy import Connection, text

from core.db import Database
from demo.seed import seed_demo
from runtime.tables import metadata

# What seed_demo writes into an empty database, parents first.
DEMO_TABLES = ("malls", "levels", "tenants", "zones")


def _used_tables(conn: Connection) -> list[str]:
    """The tables holding at least one row, in one query."""
    # Table names from our own metadata, never from input.
    used = " UNION ALL ".join(
        f"SELECT '{table.name}' WHERE EXISTS (SELECT FROM \"{table.name}\")"  # noqa: S608
        for table in metadata.sorted_tables
    )
    return list(conn.scalars(text(used)).all())


def empty(database: Database) -> None:
    """Truncate the tables a test wrote to and restart every sequence it used: as a TRUNCATE
    of every table, RESTART IDENTITY, leaves it, in a fraction of the time."""
    with database.engine.begin() as conn:
        tables = _used_tables(conn)
        if tables:
            quoted = ", ".join(f'"{table}"' for table in tables)
            conn.execute(text(f"TRUNCATE {quoted} CASCADE"))
        sequences = conn.execute(text(
            "SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL"
        )).all()  # fmt: skip
        for schema, sequence in sequences:
            conn.execute(text(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART'))


class DemoMall:
    """seed_demo once per test database; after that, its rows copied back in."""

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}
        self.mall_id = 0

    def seed(self, database: Database) -> int:
        with database.engine.begin() as conn:
            before = set(_used_tables(conn))
            fresh = not before & set(DEMO_TABLES)
            if fresh and self.rows:
                self._copy_in(conn)
                return self.mall_id
        # The first time, or after a test made a mall of its own first: seed as the demo does.
        with database.sessions() as session:
            mall_id = seed_demo(session).id
            session.commit()
        if fresh:
            with database.engine.begin() as conn:
                # Should seed_demo ever write another table, a copy of these would miss it.
                written = set(_used_tables(conn)) - before
                assert written == set(DEMO_TABLES), written
                self.rows = {table: _copy_out(conn, table) for table in DEMO_TABLES}
            self.mall_id = mall_id
        return mall_id

    def _copy_in(self, conn: Connection) -> None:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor:
            for table in DEMO_TABLES:
                with cursor.copy(
                    sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
                ) as copy:
                    copy.write(self.rows[table])
                cursor.execute(
                    sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), max(id)) FROM {}")
                    .format(sql.Literal(table), sql.Identifier(table))
                )  # fmt: skip


def _copy_out(conn: Connection, table: str) -> bytes:
    raw: Any = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))) as copy,
    ):
        return b"".join(bytes(block) for block in copy)
