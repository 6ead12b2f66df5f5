"""Bulk reads and writes over PostgreSQL's COPY, in the session's transaction: the nightly job
moves millions of rows, where row-by-row statements spend their time in the driver."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from psycopg import sql
from sqlalchemy.orm import Session


def _raw(session: Session) -> Any:
    raw = session.connection().connection.driver_connection
    if raw is None:  # pragma: no cover - a pooled connection always has its driver's
        raise RuntimeError("no database connection")
    return raw


def read_frame(session: Session, query: sql.Composable, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of `query` (its values already bound as literals) as a DataFrame."""
    buffer = io.BytesIO()
    with _raw(session).cursor() as cursor:
        copy_sql = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(query)
        with cursor.copy(copy_sql) as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    return pd.read_csv(buffer, header=None, names=list(columns))


def write_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """COPY the rows into `table`; dicts and lists go in as JSON (jsonb columns)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with _raw(session).cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if isinstance(v, dict | list) else v for v in row])
