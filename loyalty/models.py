"""Purchases of loyalty members, as the stores' tills and the mall's programme send them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
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
        CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded"),
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
    # What its refunds gave back: the figures read a receipt net (amount - refunded), and one
    # refunded whole is no purchase at all.
    refunded: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), default=Decimal(0), server_default="0"
    )


class Refund(Base):
    """A return at the till: money given back on one earlier receipt of the same store. A
    refund is a transaction of its own (its `txn_id`, stored once, as receipts are); what it
    gives back is added to the receipt's `refunded` in the same transaction."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "txn_id"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("items >= 1", name="items"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    purchase_id: Mapped[int] = mapped_column(
        ForeignKey("purchases.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    txn_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    items: Mapped[int] = mapped_column(Integer)
    lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoyaltyRules(Base):
    """The operator's thresholds for purchase segments and lifecycle figures (defaults when
    absent); shape: loyalty.schemas.LoyaltyRulesIn."""

    __tablename__ = "loyalty_rules"

    mall_id: Mapped[int] = mapped_column(
        ForeignKey("malls.id", ondelete="CASCADE"), primary_key=True
    )
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class LifecycleWeek(Base):
    """One week of lifecycle figures for a scope: the mall (tenant_id 0) or a store, all members
    (segment '') or one segment. Rebuilt whole for a mall by the nightly job."""

    __tablename__ = "lifecycle_weeks"

    mall_id: Mapped[int] = mapped_column(
        ForeignKey("malls.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)  # its Monday, mall local time
    active: Mapped[int] = mapped_column(Integer)
    new: Mapped[int] = mapped_column(Integer)
    activated: Mapped[int | None] = mapped_column(Integer)
    purchases: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    lapsed: Mapped[int] = mapped_column(Integer)


class LifecycleScope(Base):
    """A scope's members as the model sees them now: how likely they still buy, and their
    predicted value over the horizon."""

    __tablename__ = "lifecycle_scopes"

    mall_id: Mapped[int] = mapped_column(
        ForeignKey("malls.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    members: Mapped[int] = mapped_column(Integer)
    # Members by chance of still buying: [<0.25, 0.25-0.5, 0.5-0.75, >=0.75, not modelled]
    p_alive: Mapped[list[int]] = mapped_column(JSONB)
    predicted_value: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model: Mapped[dict[str, Any]] = mapped_column(JSONB)  # parameters, members fitted, horizon
