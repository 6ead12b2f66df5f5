"""Receipts in: a batch from a store's till or from the mall's loyalty programme.

Idempotent by the store's transaction id: the unique (tenant, txn_id) makes a batch sent again,
or sent once by the till and once by the programme, store each receipt once. Members are found
by the pseudonym of their member id, made on first sight.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.members.service import members_by_pseudonym, pseudonym, pseudonym_key
from core.tenants.models import Tenant
from loyalty.models import Purchase
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
    """Store (store id, receipt) pairs of one mall; returns how many were new."""
    _check(session, mall_id, receipts, now)
    key = pseudonym_key(session)
    names = [pseudonym(key, mall_id, receipt.member_id) for _, receipt in receipts]
    members = members_by_pseudonym(session, mall_id, names)
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for (store, receipt), name in zip(receipts, names, strict=True):
        rows.setdefault((store, receipt.txn_id), {
            "mall_id": mall_id, "member_id": members[name], "tenant_id": store,
            "txn_id": receipt.txn_id, "at": receipt.at, "amount": receipt.amount,
            "currency": receipt.currency, "items": receipt.items,
            "lines": [line.model_dump(mode="json") for line in receipt.lines]
            if receipt.lines is not None else None,
        })  # fmt: skip
    # In key order: two batches sharing receipts lock them in the same order (no deadlock).
    values = [rows[k] for k in sorted(rows)]
    stored = session.execute(
        insert(Purchase).values(values).on_conflict_do_nothing(
            index_elements=["tenant_id", "txn_id"]).returning(Purchase.id)
    ).all()  # fmt: skip
    return PurchasesStored(received=len(receipts), stored=len(stored),
                           duplicates=len(receipts) - len(stored))  # fmt: skip


def _check(
    session: Session, mall_id: int, receipts: Sequence[tuple[int, PurchaseIn]], now: datetime
) -> None:
    stores = {store for store, _ in receipts}
    known = set(session.scalars(
        select(Tenant.id).where(Tenant.mall_id == mall_id, Tenant.id.in_(stores))))  # fmt: skip
    for index, (store, receipt) in enumerate(receipts):
        if store not in known:
            raise InvalidInput(f"purchases.{index}.store: no store {store} in this mall",
                               code="unknown_store",
                               details={"field": f"purchases.{index}.store"})  # fmt: skip
        if problem := time_problem(receipt.at, now):
            code, what = problem
            raise InvalidInput(f"purchases.{index}.at {what}", code=code,
                               details={"field": f"purchases.{index}.at"})  # fmt: skip
