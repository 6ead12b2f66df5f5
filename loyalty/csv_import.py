"""History in bulk: a CSV of receipts loaded with COPY, all or nothing.

Columns (a header row names them, in any order): txn_id, member_id, store (tenant id), at (ISO
8601 with its offset), amount, currency, items, and optionally lines (JSON) and refund_of (a
return: the txn_id of the receipt it gives money back on). Every row is checked before anything
is written, and a wrong one is named by its line. Member ids are hashed here: they never reach
the database. The rows go into a temporary table with COPY, then into members and purchases
with one INSERT ... SELECT each, duplicates (the same store and txn_id, in the file or stored
before) skipped. Returns wait in a table of their own until every sale of the file is in (a
file need not be in time order), then are checked and stored together.
"""

from __future__ import annotations

import csv
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.members.service import pseudonym, pseudonym_key
from loyalty.purchases import Sale, refund_problem, time_problem
from loyalty.schemas import ImportSummary

COLUMNS = ("txn_id", "member_id", "store", "at", "amount", "currency", "items")
OPTIONAL = ("lines", "refund_of")
MAX_AMOUNT = Decimal("9999999999.99")
MAX_ID = 2**63 - 1

_STAGE = text(
    """
    CREATE TEMPORARY TABLE purchase_stage (
        line bigint, tenant_id bigint, txn_id text, pseudonym bytea, at timestamptz,
        amount numeric(12, 2), currency text, items integer, lines jsonb, refund_of text
    ) ON COMMIT DROP
    """
)
_REFUND_STAGE = text(
    "CREATE TEMPORARY TABLE refund_stage ON COMMIT DROP AS "
    "SELECT * FROM purchase_stage WITH NO DATA"
)
_COPY = (
    "COPY purchase_stage (line, tenant_id, txn_id, pseudonym, at, amount, currency, items, "
    "lines, refund_of) FROM STDIN"
)
_UNKNOWN_STORES = text(
    "SELECT DISTINCT tenant_id FROM purchase_stage EXCEPT "
    "SELECT id FROM tenants WHERE mall_id = :mall ORDER BY 1 LIMIT 5"
)
_MEMBERS = text(
    "INSERT INTO members (mall_id, pseudonym, created_at) "
    "SELECT DISTINCT :mall, pseudonym, now() FROM purchase_stage WHERE refund_of IS NULL "
    "ORDER BY 2 "
    "ON CONFLICT (mall_id, pseudonym) DO NOTHING"
)
_PURCHASES = text(
    """
    INSERT INTO purchases (mall_id, member_id, tenant_id, txn_id, at, amount, currency, items,
                           lines, received_at)
    SELECT :mall, m.id, s.tenant_id, s.txn_id, s.at, s.amount, s.currency, s.items, s.lines, now()
    FROM purchase_stage s JOIN members m ON m.mall_id = :mall AND m.pseudonym = s.pseudonym
    WHERE s.refund_of IS NULL
    ORDER BY s.tenant_id, s.txn_id
    ON CONFLICT (tenant_id, txn_id) DO NOTHING
    """
)
_SET_ASIDE = text(
    "INSERT INTO refund_stage SELECT * FROM purchase_stage WHERE refund_of IS NOT NULL"
)
# The receipts the file's returns name, locked (returns at once never give back more than a
# receipt was); then every return beside the receipt it names, checked in Python by the API's
# rule (loyalty.purchases.refund_problem).
_LOCK_REFUNDED = text(
    """
    SELECT p.id FROM purchases p JOIN refund_stage r
      ON p.tenant_id = r.tenant_id AND p.txn_id = r.refund_of
    ORDER BY p.id FOR UPDATE OF p
    """
)
_STAGED_REFUNDS = text(
    """
    SELECT r.line, r.pseudonym, r.currency, r.at, r.amount,
           p.id AS sale_id, m.pseudonym AS sale_member, p.currency AS sale_currency,
           p.at AS sale_at
    FROM refund_stage r
    LEFT JOIN purchases p ON p.tenant_id = r.tenant_id AND p.txn_id = r.refund_of
    LEFT JOIN members m ON m.id = p.member_id
    ORDER BY r.line
    """
)
_REFUNDS = text(
    """
    INSERT INTO refunds (purchase_id, tenant_id, txn_id, at, amount, items, lines, received_at)
    SELECT DISTINCT ON (r.tenant_id, r.txn_id) p.id, r.tenant_id, r.txn_id, r.at, r.amount,
           r.items, r.lines, now()
    FROM refund_stage r JOIN purchases p ON p.tenant_id = r.tenant_id AND p.txn_id = r.refund_of
    ORDER BY r.tenant_id, r.txn_id, r.line
    ON CONFLICT (tenant_id, txn_id) DO NOTHING
    """
)
# What the refunds of each receipt returned on add up to, with the last line returning on it
# (which names one that would give back more than the receipt was).
_TOTALS = text(
    """
    CREATE TEMPORARY TABLE refund_totals ON COMMIT DROP AS
    SELECT p.id, p.txn_id, p.amount,
           (SELECT sum(f.amount) FROM refunds f WHERE f.purchase_id = p.id) AS total,
           (SELECT max(r.line) FROM refund_stage r
            WHERE r.tenant_id = p.tenant_id AND r.refund_of = p.txn_id) AS line
    FROM purchases p WHERE (p.tenant_id, p.txn_id) IN (SELECT tenant_id, refund_of
                                                       FROM refund_stage)
    """
)
_OVER_REFUNDED = text(
    "SELECT line, txn_id, total, amount FROM refund_totals WHERE total > amount "
    "ORDER BY line LIMIT 1"
)
_REFUNDED = text(
    "UPDATE purchases p SET refunded = t.total FROM refund_totals t "
    "WHERE p.id = t.id AND p.refunded <> t.total"
)


CHUNK = 50_000  # rows staged, then inserted, at a time: the next chunk is read meanwhile


def import_purchases(session: Session, mall_id: int, source: IO[str]) -> ImportSummary:
    """Load a CSV of receipts into the mall in the caller's transaction (it commits).

    A thread reads and checks the next chunk of rows while the database inserts this one (the
    two cores both work). A wrong row, or a store the mall lacks, raises: the transaction is
    then rolled back and nothing of the file is kept."""
    started = time.perf_counter()
    key = pseudonym_key(session)
    session.execute(_STAGE)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    session.execute(_REFUND_STAGE)
    received = stored = members_new = returns = 0
    with _Chunks(read_rows(source, key, mall_id)) as chunks:
        for chunk in chunks:
            with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
                copy.write("".join(chunk))
            unknown = [store for (store,) in session.execute(_UNKNOWN_STORES, {"mall": mall_id})]
            if unknown:
                raise InvalidInput(f"no store {unknown[0]} in mall {mall_id} (stores are "
                                   "tenant ids)", code="unknown_store",
                                   details={"stores": unknown})  # fmt: skip
            members_new += _rowcount(session.execute(_MEMBERS, {"mall": mall_id}))
            stored += _rowcount(session.execute(_PURCHASES, {"mall": mall_id}))
            returns += _rowcount(session.execute(_SET_ASIDE))
            session.execute(text("TRUNCATE purchase_stage"))
            received += len(chunk)
    refunds = _store_refunds(session) if returns else 0
    return ImportSummary(
        received=received, stored=stored + refunds, duplicates=received - stored - refunds,
        refunds=refunds, members_new=members_new,
        seconds=round(time.perf_counter() - started, 3),
    )  # fmt: skip


def _store_refunds(session: Session) -> int:
    """The file's returns, once all its sales are in; raises on the first that cannot be."""
    session.execute(_LOCK_REFUNDED)
    for row in session.execute(_STAGED_REFUNDS):
        sale = None if row.sale_id is None else Sale(bytes(row.sale_member), row.sale_currency,
                                                     row.sale_at)  # fmt: skip
        if problem := refund_problem(bytes(row.pseudonym), row.currency, row.at, row.amount,
                                     sale):  # fmt: skip
            field, code, what = problem
            raise InvalidInput(f"line {row.line}: {field} {what}", code=code,
                               details={"line": row.line})  # fmt: skip
    stored = _rowcount(session.execute(_REFUNDS))
    session.execute(_TOTALS)
    over = session.execute(_OVER_REFUNDED).first()
    if over is not None:
        line, txn_id, total, amount = over
        raise InvalidInput(f"line {line}: the returns on {txn_id} would give back {total} of its "
                           f"{amount}", code="refund_exceeds_purchase",
                           details={"line": line})  # fmt: skip
    session.execute(_REFUNDED)
    return stored


class _Chunks:
    """Lists of `CHUNK` rows as lines of COPY's text format, read and written ahead by a thread
    of their own (the database inserts the previous chunk meanwhile); its error is raised here."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.queue: queue.Queue[list[str] | BaseException | None] = queue.Queue(2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, name="csv-reader", daemon=True)

    def __enter__(self) -> Iterator[list[str]]:
        self.thread.start()
        return self._chunks()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _chunks(self) -> Iterator[list[str]]:
        while (item := self.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _read(self) -> None:
        try:
            chunk: list[str] = []
            for row in self.rows:
                chunk.append(copy_line(row))
                if len(chunk) >= CHUNK:
                    self._put(chunk)
                    chunk = []
            if chunk:
                self._put(chunk)
            self._put(None)
        except BaseException as exc:  # handed to the reader of the chunks
            self._put(exc)

    def _put(self, item: list[str] | BaseException | None) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(row: tuple[Any, ...]) -> str:
    """A staged row in COPY's text format: one write for a whole chunk, not a call per row."""
    line, tenant_id, txn_id, hashed, at, amount, currency, items, lines, refund_of = row
    fields = (str(line), str(tenant_id), txn_id.translate(_ESCAPES), "\\\\x" + hashed.hex(),
              at.isoformat(), str(amount), currency, str(items),
              "\\N" if lines is None else lines.translate(_ESCAPES),
              "\\N" if refund_of is None else refund_of.translate(_ESCAPES))  # fmt: skip
    return "\t".join(fields) + "\n"


def read_rows(source: IO[str], key: bytes, mall_id: int) -> Iterator[tuple[Any, ...]]:
    """The file's rows as the staging table takes them, each checked (its line named).

    As spreadsheets save CSV: separated by commas, or by semicolons (Excel where the decimal
    mark is a comma, which amounts may then use) or tabs, whichever the header line uses."""
    try:
        first = source.readline()
    except ValueError as exc:  # UnicodeDecodeError
        raise InvalidInput(f"line 1: {_text_problem(exc)}", code="invalid_csv",
                           details={"line": 1}) from None  # fmt: skip
    delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader(itertools.chain([first], source), delimiter=delimiter)
    decimal_comma = delimiter != ","
    header = _header(reader)
    at = [header.index(c) for c in COLUMNS]
    lines_at, refund_at = (header.index(c) if c in header else None for c in OPTIONAL)
    now = datetime.now(UTC)
    try:
        for record in reader:
            if record:  # a blank line is none
                values = [record[i] for i in at]
                lines = (record[lines_at] or None) if lines_at is not None else None
                refund_of = (record[refund_at] or None) if refund_at is not None else None
                if refund_of is not None:
                    _txn_id(refund_of, "refund_of")
                if decimal_comma:
                    values[4] = _decimal_point(values[4])
                yield (reader.line_num, *_row(values, lines, key, mall_id, now), refund_of)
    except (ValueError, IndexError, InvalidOperation, csv.Error, InvalidInput) as exc:
        # A wrong value, a NUL byte or a broken quote (csv.Error), text that is not UTF-8
        # (UnicodeDecodeError is a ValueError), a member id that is none.
        line = reader.line_num
        message = exc.message if isinstance(exc, InvalidInput) else _text_problem(exc)
        raise InvalidInput(f"line {line}: {message}", code="invalid_csv",
                           details={"line": line}) from None  # fmt: skip


_DELIMITERS = (",", ";", "\t")


def _decimal_point(amount: str) -> str:
    """12,50 as 12.50, where the file's separator leaves the comma to amounts."""
    if amount.count(",") == 1 and "." not in amount:
        return amount.replace(",", ".")
    return amount


def _text_problem(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return (f"the file is not UTF-8 text (byte {exc.object[exc.start]:#04x}): save it as "
                "\"CSV UTF-8\"")  # fmt: skip
    return str(exc)


def _header(reader: Any) -> list[str]:
    try:
        header: list[str] = next(reader, [])
    except (ValueError, csv.Error) as exc:
        raise InvalidInput(f"line 1: {exc}", code="invalid_csv", details={"line": 1}) from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInput(f"the CSV lacks the columns {missing} (it needs {list(COLUMNS)})",
                           code="invalid_csv", details={"missing": missing})  # fmt: skip
    return header


def _row(values: list[str], lines: str | None, key: bytes, mall_id: int,
         now: datetime) -> tuple[Any, ...]:  # fmt: skip
    txn_id, member_id, store, when, amount_text, currency, items_text = values
    at = _read(
        datetime.fromisoformat, when, "at", "an ISO 8601 time, e.g. 2026-11-30T18:05:00+08:00"
    )
    if at.tzinfo is None:
        raise ValueError("`at` needs its offset (e.g. 2026-11-30T18:05:00+08:00)")
    if problem := time_problem(at, now):
        raise ValueError(f"at {when} {problem[1]}")
    amount = _read(Decimal, amount_text, "amount", "a number, e.g. 12.50")
    if not (0 <= amount <= MAX_AMOUNT) or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError(f"amount {amount_text!r} is not money (0 to {MAX_AMOUNT}, cents)")
    if len(currency) != 3 or not currency.isascii() or not currency.isupper():
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code")
    items = _read(int, items_text, "items", "a whole number")
    if not 1 <= items <= 100_000:
        raise ValueError(f"items {items} is not 1 to 100000")
    _txn_id(txn_id, "txn_id")
    tenant_id = _read(int, store, "store", "a tenant id")
    if not 1 <= tenant_id <= MAX_ID:
        raise ValueError(f"store {store!r} is not a tenant id")
    if lines is not None and (not isinstance(json.loads(lines), list) or "\\u0000" in lines):
        raise ValueError("lines is a JSON list (stored as sent; no \\u0000)")
    return (tenant_id, txn_id, pseudonym(key, mall_id, member_id), at, amount, currency,
            items, lines)  # fmt: skip


_Value = TypeVar("_Value")


def _read(parse: Callable[[str], _Value], text: str, column: str, wanted: str) -> _Value:
    """A value of its column, or an error that says what the column takes (not the parser's
    words: "[<class 'decimal.ConversionSyntax'>]" tells a store manager nothing)."""
    try:
        return parse(text)
    except (ValueError, InvalidOperation):
        raise ValueError(f"{column} {text!r} is not {wanted}") from None


def _txn_id(value: str, column: str) -> None:
    if not 1 <= len(value) <= 64 or any(ord(c) < 32 for c in value):
        raise ValueError(f"{column} has 1 to 64 printable characters")


def import_file(session: Session, mall_id: int, path: Path) -> ImportSummary:
    # utf-8-sig: Excel's "CSV UTF-8" begins with a byte order mark, which is not the header.
    with path.open(newline="", encoding="utf-8-sig") as source:
        return import_purchases(session, mall_id, source)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
