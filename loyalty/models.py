"""Purchases of loyalty members, as the stores' tills and the mall's programme send them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Purchase(Base):
    """One receipt. `txn_id` is the store's own transaction id: a batch sent again, by the till
    or by the programme, finds its receipts there and stores nothing twice."""

    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "txn_id"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("items >= 1", name="items"),
        Index("ix_purchases_mall_id_at", "mall_id", "at"),
        Index("ix_purchases_member_id_at", "member_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The member's mall, copied for the mall's queries; no key of its own: the member's and the
    # store's take the receipt with them (a third check per row would slow bulk loads by a sixth).
    mall_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    txn_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    items: Mapped[int] = mapped_column(Integer)
    lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
