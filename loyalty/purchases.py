"""Receipts in: a batch from a store's till or from the mall's loyalty programme.

Idempotent by the store's transaction id: the unique (tenant, txn_id) makes a batch sent again,
or sent once by the till and once by the programme, store each receipt once. Members are found
by the pseudonym of their member id, made on first sight. A receipt with `refund_of` is a
return: money given back on an earlier receipt of the same store and member.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.members.models import Member
from core.members.service import members_by_pseudonym, pseudonym, pseudonym_key
from core.tenants.models import Tenant
from loyalty.models import Purchase, Refund
from loyalty.schemas import PurchaseIn, PurchasesStored

FUTURE_S = 300  # a till's clock may run a little fast; a receipt from tomorrow is a mistake
# Before this, a till's clock was never set (1970-01-01 is the Unix epoch), or a date was typed
# wrong: such a receipt would make a member "lapsed" for decades and skew the model.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


def time_problem(at: datetime, now: datetime) -> tuple[str, str] | None:
    """Why a receipt's time cannot be taken (code, what is wrong), or None: the one rule for
    the API and the CSV import."""
    if at > now + timedelta(seconds=FUTURE_S):
        return "purchase_in_future", "lies in the future"
    if at < EARLIEST:
        return "purchase_too_old", "lies before 1990: a till clock that was never set?"
    return None


def store_purchases(
    session: Session, mall_id: int, receipts: Sequence[tuple[int, PurchaseIn]], now: datetime
) -> PurchasesStored:
    """Store (store id, receipt) pairs of one mall, refunds after the sales (a batch may hold a
    sale and its return); returns how many were new."""
    _check(session, mall_id, receipts, now)
    key = pseudonym_key(session)
    batch = [
        (i, store, receipt, pseudonym(key, mall_id, receipt.member_id))
        for i, (store, receipt) in enumerate(receipts)
    ]
    sales = _store_sales(session, mall_id, [r for r in batch if r[2].refund_of is None])
    refunds = [r for r in batch if r[2].refund_of is not None]
    returned = _store_refunds(session, refunds) if refunds else 0
    return PurchasesStored(
        received=len(receipts),
        stored=sales + returned,
        duplicates=len(receipts) - sales - returned,
        refunds=returned,
    )


Receipt = tuple[int, int, PurchaseIn, bytes]  # index in the batch, store, receipt, pseudonym


def _store_sales(session: Session, mall_id: int, sales: Sequence[Receipt]) -> int:
    if not sales:
        return 0
    members = members_by_pseudonym(session, mall_id, [name for *_, name in sales])
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for _, store, receipt, name in sales:
        rows.setdefault(
            (store, receipt.txn_id),
            {
                "mall_id": mall_id,
                "member_id": members[name],
                "tenant_id": store,
                "txn_id": receipt.txn_id,
                "at": receipt.at,
                "amount": receipt.amount,
                "currency": receipt.currency,
                "items": receipt.items,
                "lines": _lines(receipt),
            },
        )
    # In key order: two batches sharing receipts lock them in the same order (no deadlock).
    values = [rows[k] for k in sorted(rows)]
    stored = session.execute(
        insert(Purchase)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "txn_id"])
        .returning(Purchase.id)
    ).all()
    return len(stored)


def _store_refunds(session: Session, refunds: Sequence[Receipt]) -> int:
    """Refunds on earlier receipts, each stored once; the receipts refunded are locked, so that
    batches refunding the same receipt at once never give back more than it was."""
    wanted = sorted({(store, str(receipt.refund_of)) for _, store, receipt, _ in refunds})
    originals = {
        (row.tenant_id, row.txn_id): row
        for row in session.execute(
            select(
                Purchase.id,
                Purchase.tenant_id,
                Purchase.txn_id,
                Purchase.at,
                Purchase.amount,
                Purchase.refunded,
                Purchase.currency,
                Member.pseudonym,
            )
            .join(Member, Member.id == Purchase.member_id)
            .where(tuple_(Purchase.tenant_id, Purchase.txn_id).in_(wanted))
            .order_by(Purchase.id)
            .with_for_update(of=Purchase)
        )
    }
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    last: dict[int, int] = {}  # receipt refunded -> the batch's last refund of it
    for index, store, receipt, name in refunds:
        original = originals.get((store, str(receipt.refund_of)))
        sale = original and Sale(bytes(original.pseudonym), original.currency, original.at)
        if problem := refund_problem(name, receipt.currency, receipt.at, receipt.amount, sale):
            field, code, what = problem
            raise InvalidInput(
                f"purchases.{index}.{field} {what}",
                code=code,
                details={"field": f"purchases.{index}.{field}"},
            )
        assert original is not None  # refund_problem says so
        last[original.id] = index
        rows.setdefault(
            (store, receipt.txn_id),
            {
                "purchase_id": original.id,
                "tenant_id": store,
                "txn_id": receipt.txn_id,
                "at": receipt.at,
                "amount": receipt.amount,
                "items": receipt.items,
                "lines": _lines(receipt),
            },
        )
    stored = session.execute(
        insert(Refund)
        .values([rows[k] for k in sorted(rows)])
        .on_conflict_do_nothing(index_elements=["tenant_id", "txn_id"])
        .returning(Refund.purchase_id, Refund.amount)
    ).all()
    given: dict[int, Decimal] = defaultdict(Decimal)
    for purchase_id, amount in stored:
        given[purchase_id] += amount
    by_id = {row.id: row for row in originals.values()}
    for purchase_id, amount in given.items():
        original = by_id[purchase_id]
        if original.refunded + amount > original.amount:
            index = last[purchase_id]
            raise InvalidInput(
                f"purchases.{index}.amount: the refunds of {original.txn_id} would give back "
                f"{original.refunded + amount} of its {original.amount}",
                code="refund_exceeds_purchase",
                details={"field": f"purchases.{index}.amount"},
            )
    if given:
        session.execute(
            update(Purchase),
            [
                {"id": pid, "refunded": by_id[pid].refunded + amount}
                for pid, amount in given.items()
            ],
        )
    return len(stored)


class Sale(NamedTuple):
    """What a return is checked against: the receipt it names."""

    pseudonym: bytes
    currency: str
    at: datetime


def refund_problem(
    member: bytes, currency: str, at: datetime, amount: Decimal, sale: Sale | None
) -> tuple[str, str, str] | None:
    """Why a return cannot be taken (field, code, what is wrong), or None: the one rule for the
    API and the CSV import."""
    if sale is None:
        return "refund_of", "unknown_receipt", "names no receipt of this store"
    if sale.pseudonym != member:
        return "member_id", "refund_of_another_member", "is not the member of that receipt"
    if currency != sale.currency:
        return "currency", "refund_in_another_currency", f"is not {sale.currency}"
    if at < sale.at:
        return "at", "refund_before_purchase", "lies before the receipt it refunds"
    if amount <= 0:
        return "amount", "refund_without_amount", "gives nothing back"
    return None


def _lines(receipt: PurchaseIn) -> list[dict[str, Any]] | None:
    if receipt.lines is None:
        return None
    return [line.model_dump(mode="json") for line in receipt.lines]


def _check(
    session: Session, mall_id: int, receipts: Sequence[tuple[int, PurchaseIn]], now: datetime
) -> None:
    stores = {store for store, _ in receipts}
    known = set(
        session.scalars(select(Tenant.id).where(Tenant.mall_id == mall_id, Tenant.id.in_(stores)))
    )
    for index, (store, receipt) in enumerate(receipts):
        if store not in known:
            raise InvalidInput(
                f"purchases.{index}.store: no store {store} in this mall",
                code="unknown_store",
                details={"field": f"purchases.{index}.store"},
            )
        if problem := time_problem(receipt.at, now):
            code, what = problem
            raise InvalidInput(
                f"purchases.{index}.at {what}",
                code=code,
                details={"field": f"purchases.{index}.at"},
            )
