"""Returns at the till: a refund gives money back on an earlier receipt of the same store and
member, is stored once, can never give back more than the receipt was, and the figures read
purchases net of it. On the real database through the API."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from core.db import Database
from core.errors import InvalidInput
from loyalty.csv_import import import_purchases
from loyalty.purchases import store_purchases
from loyalty.schemas import PurchaseIn
from tests.loyalty.test_purchases import purchases, receipt, tenant_ids
from tests.support.api import error_of, jobs_for

TILL = "/v1/tenant/purchases"


def refund(txn: str, of: str, amount: str, member: str = "M-0001", **changes: Any
           ) -> dict[str, Any]:  # fmt: skip
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return receipt(txn, member, refund_of=of, amount=amount, items=1, at=at) | changes


def refunds(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM refunds ORDER BY tenant_id, txn_id"))
        return [dict(row) for row in rows.mappings()]


def refunded(db: Database) -> dict[str, Decimal]:
    return {p["txn_id"]: p["refunded"] for p in purchases(db)}


def test_a_return_gives_back_on_its_receipt_once(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    client.post(TILL, headers=mall["starbucks"], json={"purchases": [receipt("T-1")]})
    # A later sale and its return in one batch, and a return of the earlier sale.
    batch = {"purchases": [refund("R-2", "T-2", "42.50", "M-0002"), receipt("T-2", "M-0002"),
                           refund("R-1", "T-1", "12.50")]}  # fmt: skip
    first = client.post(TILL, headers=mall["starbucks"], json=batch)
    assert first.json() == {"received": 3, "stored": 3, "duplicates": 0, "refunds": 2}
    again = client.post(TILL, headers=mall["starbucks"], json=batch)
    assert again.json() == {"received": 3, "stored": 0, "duplicates": 3, "refunds": 0}
    assert refunded(db) == {"T-1": Decimal("12.50"), "T-2": Decimal("42.50")}
    assert [(r["txn_id"], r["amount"]) for r in refunds(db)] == [
        ("R-1", Decimal("12.50")), ("R-2", Decimal("42.50"))]  # fmt: skip
    # The rest of T-1 comes back later, through the programme.
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    rest = client.post(
        f"/v1/malls/{mall['id']}/purchases",
        headers=mall["operator"],
        json={"purchases": [refund("R-3", "T-1", "30.00", store=store)]},
    )
    assert rest.json()["refunds"] == 1, rest.text
    assert refunded(db)["T-1"] == Decimal("42.50")


@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        (refund("R-1", "T-9", "1.00"), "unknown_receipt", "refund_of"),
        (refund("R-1", "T-1", "1.00", "M-0002"), "refund_of_another_member", "member_id"),
        (refund("R-1", "T-1", "1.00", currency="EUR"), "refund_in_another_currency", "currency"),
        (refund("R-1", "T-1", "1.00", at="2026-01-01T00:00:00Z"), "refund_before_purchase",
         "at"),
        (refund("R-1", "T-1", "0.00"), "refund_without_amount", "amount"),
        (refund("R-1", "T-1", "42.51"), "refund_exceeds_purchase", "amount"),
    ],
)  # fmt: skip
def test_a_wrong_return_is_refused_by_its_field_and_nothing_of_the_batch_is_stored(
    client: TestClient, db: Database, mall: dict[str, Any], bad: dict[str, Any], code: str,
    field: str,
) -> None:  # fmt: skip
    client.post(TILL, headers=mall["starbucks"],
                json={"purchases": [receipt("T-1"), receipt("T-2", "M-0002")]})  # fmt: skip
    batch = {"purchases": [receipt("T-3"), refund("R-0", "T-2", "2.00", "M-0002"), bad]}
    error = error_of(client.post(TILL, headers=mall["starbucks"], json=batch), 422)
    assert (error["code"], error["details"]) == (code, {"field": f"purchases.2.{field}"})
    assert [p["txn_id"] for p in purchases(db)] == ["T-1", "T-2"]
    assert refunds(db) == []
    assert set(refunded(db).values()) == {Decimal(0)}


def test_returns_add_up_to_no_more_than_the_receipt_and_stay_with_their_store(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    client.post(TILL, headers=mall["starbucks"], json={"purchases": [receipt("T-1")]})
    client.post(TILL, headers=mall["starbucks"],
                json={"purchases": [refund("R-1", "T-1", "40.00")]})  # fmt: skip
    more = client.post(TILL, headers=mall["starbucks"],
                       json={"purchases": [refund("R-2", "T-1", "2.00"),
                                           refund("R-3", "T-1", "0.51")]})  # fmt: skip
    assert error_of(more, 422)["details"] == {"field": "purchases.1.amount"}
    other_store = client.post(TILL, headers=mall["adidas"],
                              json={"purchases": [refund("R-9", "T-1", "1.00")]})  # fmt: skip
    assert error_of(other_store, 422)["code"] == "unknown_receipt"
    assert refunded(db) == {"T-1": Decimal("40.00")}


def test_two_tills_returning_on_one_receipt_at_once_never_give_back_more_than_it_was(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    client.post(TILL, headers=mall["starbucks"], json={"purchases": [receipt("T-1")]})
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    answers: dict[str, str] = {}

    def give_back(txn: str, session_ready: threading.Event | None = None) -> None:
        with db.sessions() as session:
            try:
                stored = store_purchases(session, mall["id"], [(store, PurchaseIn.model_validate(
                    refund(txn, "T-1", "30.00")))], datetime.now(UTC))  # fmt: skip
                answers[txn] = f"stored {stored.refunds}"
            except InvalidInput as exc:
                answers[txn] = exc.code
                session.rollback()
                return
            if session_ready is not None:
                session_ready.set()
                waiting.wait(5)
            session.commit()

    first_done, waiting = threading.Event(), threading.Event()
    first = threading.Thread(target=give_back, args=("R-1", first_done))
    first.start()
    assert first_done.wait(5)  # R-1 holds T-1, not committed
    second = threading.Thread(target=give_back, args=("R-2",))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waits for T-1
    waiting.set()
    first.join(5)
    second.join(5)
    assert answers == {"R-1": "stored 1", "R-2": "refund_exceeds_purchase"}
    assert refunded(db) == {"T-1": Decimal("30.00")}


def test_the_figures_read_purchases_net_and_erasure_takes_the_returns(
    client: TestClient, db: Database, mall: dict[str, Any]
) -> None:
    earlier = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    client.post(TILL, headers=mall["starbucks"], json={"purchases": [
        receipt("T-1", at=earlier, amount="100.00"), receipt("T-2", at=earlier, amount="50.00"),
        refund("R-1", "T-1", "100.00"), refund("R-2", "T-2", "20.00")]})  # fmt: skip
    assert jobs_for(client).member_lifecycle() == 1
    weeks = client.get(f"/v1/malls/{mall['id']}/lifecycle", headers=mall["operator"]).json()
    assert sum(w["purchases"] for w in weeks["weeks"]) == 1  # T-1 came back whole
    assert sum(float(w["revenue"]) for w in weeks["weeks"]) == 30.0
    view = client.post(f"/v1/malls/{mall['id']}/members/view", headers=mall["operator"],
                       json={"member_id": "M-0001"}).json()  # fmt: skip
    kinds = sorted(e["kind"] for e in view["timeline"])
    assert kinds == ["purchase", "purchase", "refund", "refund"]

    erased = client.post(f"/v1/malls/{mall['id']}/members/erase", headers=mall["operator"],
                         json={"member_id": "M-0001"})  # fmt: skip
    assert erased.json() == {"erased": True}
    assert (purchases(db), refunds(db)) == ([], [])


def csv_with_returns(rows: list[dict[str, Any]]) -> io.StringIO:
    columns = ("refund_of", "txn_id", "member_id", "store", "at", "amount", "currency", "items")
    lines = [",".join(columns)]
    lines += [",".join(str(r.get(c) or "") for c in columns) for r in rows]
    return io.StringIO("\n".join(lines) + "\n")


def test_a_history_file_holds_returns_before_or_after_their_sales(
    db: Database, mall: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loyalty.csv_import.CHUNK", 3)  # the return of T-5 comes chunks before it
    store = tenant_ids(db)["STARBUCKS COFFEE"]
    earlier = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    sales = [receipt(f"T-{i}", f"M-{i % 3}", store=store, at=earlier) for i in range(6)]
    returns = [refund("R-5", "T-5", "42.50", "M-2", store=store),
               refund("R-1", "T-1", "10.00", "M-1", store=store),
               refund("R-1b", "T-1", "2.50", "M-1", store=store)]  # fmt: skip
    with db.sessions() as session:
        summary = import_purchases(
            session, mall["id"], csv_with_returns([returns[0], *sales, *returns[1:]])
        )
        session.commit()  # fmt: skip
    assert (summary.received, summary.stored, summary.refunds, summary.members_new) == (
        9, 9, 3, 3)  # fmt: skip
    assert refunded(db)["T-5"] == Decimal("42.50")
    assert refunded(db)["T-1"] == Decimal("12.50")
    with db.sessions() as session:
        again = import_purchases(session, mall["id"], csv_with_returns([*sales, *returns]))
        session.commit()
    assert (again.stored, again.duplicates, again.refunds) == (0, 9, 0)
    assert refunded(db)["T-1"] == Decimal("12.50")

    for wrong, code, line in (
        (refund("R-9", "T-404", "1.00", store=store), "unknown_receipt", 3),
        (refund("R-9", "T-2", "1.00", "M-1", store=store), "refund_of_another_member", 3),
        (refund("R-9", "T-1", "30.01", "M-1", store=store), "refund_exceeds_purchase", 3),
    ):
        with db.sessions() as session, pytest.raises(InvalidInput) as refused:
            import_purchases(
                session, mall["id"], csv_with_returns([receipt("T-new", store=store), wrong])
            )
        assert (refused.value.code, refused.value.details) == (code, {"line": line})
    assert len(refunds(db)) == 3
    assert "T-new" not in refunded(db)
