"""Receipts from tills and the loyalty programme, on the real database through the API."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from core.db import Database
from core.errors import InvalidInput
from core.members.models import Member
from core.tenants.models import Tenant
from loyalty.csv_import import import_file, import_purchases
from tests.support.api import error_of


def receipt(txn: str, member: str = "M-0001", **changes: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    return {"txn_id": txn, "member_id": member, "at": at, "amount": "42.50",
            "currency": "CNY", "items": 2} | changes  # fmt: skip


def tenant_ids(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        return {t.name: t.id for t in session.scalars(select(Tenant))}


def purchases(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM purchases ORDER BY tenant_id, txn_id"))
        return [dict(row) for row in rows.mappings()]


def test_a_batch_sent_again_stores_nothing_twice(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    batch = {"purchases": [receipt("T-1"), receipt("T-2", "M-0002"), receipt("T-1")]}
    first = client.post("/v1/tenant/purchases", headers=mall["starbucks"], json=batch)
    assert first.json() == {"received": 3, "stored": 2, "duplicates": 1, "refunds": 0}
    again = client.post("/v1/tenant/purchases", headers=mall["starbucks"], json=batch)
    assert again.json() == {"received": 3, "stored": 0, "duplicates": 3, "refunds": 0}
    # The programme sends the same receipt of Starbucks: still one.
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    same = {"purchases": [receipt("T-2", "M-0002", store=store)]}
    programme = client.post(f"/v1/malls/{mall['id']}/purchases", headers=mall["operator"],
                            json=same)  # fmt: skip
    assert programme.json()["duplicates"] == 1
    # Another store's T-1 is another receipt.
    adidas = client.post("/v1/tenant/purchases", headers=mall["adidas"], json=batch)
    assert adidas.json()["stored"] == 2
    stored = purchases(db)
    assert len(stored) == 4
    assert {str(p["amount"]) for p in stored} == {"42.50"}


def test_member_ids_are_stored_only_as_keyed_hashes(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    batch = {"purchases": [receipt("T-1", "m-0001"), receipt("T-2", " M-0001 "),
                           receipt("T-3", "M-0002")]}  # fmt: skip
    assert client.post("/v1/tenant/purchases", headers=mall["starbucks"],
                       json=batch).status_code == 200  # fmt: skip
    with db.sessions() as session:
        members = session.scalars(select(Member)).all()
        assert len(members) == 2  # case and spaces do not make another member
        assert all(len(m.pseudonym) == 32 for m in members)
    with db.engine.connect() as conn:
        dump = "\n".join(
            str(row) for table in ("members", "purchases", "member_devices")
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        )  # fmt: skip
    assert "0001" not in dump
    assert "0002" not in dump


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"at": "2026-11-30T18:00:00"}, "body.purchases.0.at"),
        ({"currency": "yuan"}, "body.purchases.0.currency"),
        ({"amount": "-1"}, "body.purchases.0.amount"),
        ({"amount": "1.005"}, "body.purchases.0.amount"),
        ({"items": 0}, "body.purchases.0.items"),
        ({"member_id": ""}, "body.purchases.0.member_id"),
    ],
)
def test_a_wrong_receipt_is_refused_by_its_field_and_nothing_is_stored(
    client: TestClient, db: Database, mall: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    batch = {"purchases": [receipt("T-1", **change), receipt("T-2")]}
    answer = client.post("/v1/tenant/purchases", headers=mall["starbucks"], json=batch)
    fields = [f["field"] for f in error_of(answer, 422)["details"]["fields"]]
    assert field in fields
    assert purchases(db) == []


def test_the_programme_names_stores_of_its_own_mall_and_times_not_ahead(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    url = f"/v1/malls/{mall['id']}/purchases"
    unknown = client.post(url, headers=mall["operator"],
                          json={"purchases": [receipt("T-1", store=999_999)]})  # fmt: skip
    assert error_of(unknown, 422)["details"] == {"field": "purchases.0.store"}
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = client.post("/v1/tenant/purchases", headers=mall["starbucks"],
                         json={"purchases": [receipt("T-1", at=ahead)]})  # fmt: skip
    assert error_of(future, 422)["code"] == "purchase_in_future"
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    for unset in ("1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1989-12-31T23:59:59Z"):
        old = client.post(url, headers=mall["operator"],
                          json={"purchases": [receipt("T-1", store=store, at=unset)]})  # fmt: skip
        assert error_of(old, 422) == {
            "code": "purchase_too_old",
            "message": "purchases.0.at lies before 1990: a till clock that was never set?",
            "details": {"field": "purchases.0.at"}}  # fmt: skip
    assert error_of(client.post(url, headers=mall["starbucks"], json={"purchases": []}),
                    403)["code"] == "wrong_role"  # fmt: skip
    other = client.post(f"/v1/malls/{mall['id'] + 1}/purchases", headers=mall["operator"],
                        json={"purchases": [receipt("T-1", store=1)]})  # fmt: skip
    assert error_of(other, 404)
    assert purchases(db) == []


def test_erasing_a_member_erases_their_purchases(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    batch = {"purchases": [receipt("T-1", "M-1"), receipt("T-2", "M-2"), receipt("T-3", "m-1")]}
    client.post("/v1/tenant/purchases", headers=mall["starbucks"], json=batch)
    url = f"/v1/malls/{mall['id']}/members/erase"
    assert client.post(url, headers=mall["operator"], json={"member_id": " M-1"}).json() == {
        "erased": True}  # fmt: skip
    assert [p["txn_id"] for p in purchases(db)] == ["T-2"]
    assert client.post(url, headers=mall["operator"], json={"member_id": "M-1"}).json() == {
        "erased": False}  # fmt: skip
    assert error_of(client.post(url, headers=mall["starbucks"], json={"member_id": "M-2"}), 403)


def csv_of(rows: list[dict[str, Any]]) -> io.StringIO:
    header = "txn_id,member_id,store,at,amount,currency,items"
    lines = [header] + [",".join(str(r[c]) for c in header.split(",")) for r in rows]
    return io.StringIO("\n".join(lines) + "\n")


def test_the_csv_import_is_all_or_nothing_and_skips_what_is_stored(
    db: Database, mall: dict[str, Any]
) -> None:
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    rows = [receipt(f"T-{i}", f"M-{i % 7}", store=store) for i in range(50)]
    with db.sessions() as session:
        summary = import_purchases(session, mall["id"], csv_of(rows))
        session.commit()
    assert (summary.received, summary.stored, summary.members_new) == (50, 50, 7)
    with db.sessions() as session:
        again = import_purchases(
            session, mall["id"], csv_of([*rows, receipt("T-50", "M-1", store=store)])
        )
        session.commit()
    assert (again.stored, again.duplicates, again.members_new) == (1, 50, 0)

    broken = [*rows, receipt("T-99", store=store, at="2026-11-30 18:00")]  # no offset
    with db.sessions() as session, pytest.raises(InvalidInput) as refused:
        import_purchases(session, mall["id"], csv_of(broken))
    assert refused.value.details == {"line": 52}
    for when, what in (
        ("1970-01-01T00:00:00+00:00", "before 1990"),
        ((datetime.now(UTC) + timedelta(days=1)).isoformat(), "in the future"),
    ):
        late = [*rows, receipt("T-98", store=store, at=when)]
        with db.sessions() as session, pytest.raises(InvalidInput) as refused:
            import_purchases(session, mall["id"], csv_of(late))
        assert refused.value.details == {"line": 52}
        assert what in refused.value.message
    stranger = [receipt("T-100", store=999_999)]
    with db.sessions() as session, pytest.raises(InvalidInput) as unknown:
        import_purchases(session, mall["id"], csv_of(stranger))
    assert unknown.value.code == "unknown_store"
    assert len(purchases(db)) == 51


def test_a_csv_as_spreadsheets_save_it_imports(
    db: Database, mall: dict[str, Any], tmp_path: Path
) -> None:
    # Excel's "CSV UTF-8" (a byte order mark first), Excel where the decimal mark is a comma
    # (semicolons between fields, amounts of 12,50), and tab-separated text.
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    files = {
        "excel.csv": "\ufefftxn_id,member_id,store,at,amount,currency,items\r\n"
                     f"X-1,M-1,{store},{at},12.50,CNY,1\r\n",
        "excel-de.csv": "txn_id;member_id;store;at;amount;currency;items\r\n"
                        f"X-2;M-1;{store};{at};12,50;CNY;1\r\n",
        "tabs.tsv": f"txn_id\tmember_id\tstore\tat\tamount\tcurrency\titems\nX-3\tM-1\t{store}\t"
                    f"{at}\t12.50\tCNY\t1\n",
    }  # fmt: skip
    for name, content in files.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8", newline="")
        with db.sessions() as session:
            assert import_file(session, mall["id"], path).stored == 1, name
            session.commit()
    assert {(p["txn_id"], p["amount"]) for p in purchases(db)} == {
        ("X-1", Decimal("12.50")),
        ("X-2", Decimal("12.50")),
        ("X-3", Decimal("12.50")),
    }


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"txn_id;member_id;store;at;amount;currency;items\nY;M;1;2026-12-01T10:00:00Z;1.234,50;"
         b"EUR;1\n", "line 2: amount '1.234,50' is not a number, e.g. 12.50"),
        (b"txn_id,member_id,store,at,amount,currency,items\nY,M,1,yesterday,5,EUR,1\n",
         "line 2: at 'yesterday' is not an ISO 8601 time"),
        (b"txn_id,member_id,store,at,amount,currency,items\nY,M,1,2026-12-01T10:00:00Z,5,EUR,two\n",
         "line 2: items 'two' is not a whole number"),
        (b"\xff\xfet\x00x\x00n\x00", 'line 1: the file is not UTF-8 text (byte 0xff): save it as '
         '"CSV UTF-8"'),
    ],
)  # fmt: skip
def test_a_csv_mistake_is_said_in_the_words_of_its_column(
    db: Database, mall: dict[str, Any], tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "receipts.csv"
    path.write_bytes(content)
    with db.sessions() as session, pytest.raises(InvalidInput) as refused:
        import_file(session, mall["id"], path)
    assert refused.value.message.startswith(says), refused.value.message


def test_a_file_of_many_chunks_is_still_all_or_nothing(
    db: Database, mall: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loyalty.csv_import.CHUNK", 7)  # 50 rows: eight chunks
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    rows = [receipt(f"T-{i % 45}", f"M-{i % 9}", store=store) for i in range(50)]
    broken = [*rows[:40], receipt("T-bad", store=store, currency="cny"), *rows[40:]]
    with db.sessions() as session, pytest.raises(InvalidInput) as refused:
        import_purchases(session, mall["id"], csv_of(broken))
    assert refused.value.details == {"line": 42}
    assert purchases(db) == []
    with db.sessions() as session:
        summary = import_purchases(session, mall["id"], csv_of(rows))
        session.commit()
    assert (summary.received, summary.stored, summary.duplicates) == (50, 45, 5)
    assert summary.members_new == 9


@pytest.mark.parametrize(
    "bad_line",
    [
        "T-9,M-1,{store},2026-11-30T18:00:00+08:00,1.00,CNY,1,\x00",  # a NUL byte
        "T-9,M-1,99999999999999999999,2026-11-30T18:00:00+08:00,1.00,CNY,1,",  # beyond bigint
        'T-9,M-1,{store},2026-11-30T18:00:00+08:00,1.00,CNY,1,"{{""sku"": 1}}"',  # not a list
        "T\x01,M-1,{store},2026-11-30T18:00:00+08:00,1.00,CNY,1,",  # a control character
        "T-9,\x02,{store},2026-11-30T18:00:00+08:00,1.00,CNY,1,",  # no member id
        'T-9,M-1,{store},2026-11-30T18:00:00+08:00,1.00,CNY,1,"[""\\u0000""]"',  # JSON NUL
    ],
)
def test_what_the_database_cannot_take_is_refused_by_its_line(
    db: Database, mall: dict[str, Any], bad_line: str
) -> None:
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    good = f"T-1,M-1,{store},2026-11-30T18:00:00+08:00,1.00,CNY,1,[]"
    text_ = "txn_id,member_id,store,at,amount,currency,items,lines\n" + good + "\n"
    text_ += bad_line.format(store=store) + "\n"
    with db.sessions() as session, pytest.raises(InvalidInput) as refused:
        import_purchases(session, mall["id"], io.StringIO(text_, newline=""))
    assert refused.value.details == {"line": 3}
    assert purchases(db) == []
