"""Members of a mall's loyalty programme, known only by a keyed hash of their member id."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

# What loyalty's nightly job files members under, and what promotions may target: the names
# both domains share (loyalty.standing says what each means).
PURCHASE_SEGMENTS = (
    "drop_mild",
    "drop_severe",
    "churn_risk",
    "top_spender",
    "lapsed_buyer",
    "new_not_bought",
)
TIERS = ("mild", "severe")  # of a member's frequency drop


class Member(Base):
    """A loyalty member of one mall. The programme's member id is never stored: `pseudonym`
    is its HMAC-SHA256 under the deployment's pseudonym key, so the same member id always
    finds the same row, and the table alone names nobody."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("mall_id", "pseudonym"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"), index=True)
    pseudonym: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MemberDevice(Base):
    """A device its shopper linked to their membership (with consent): one member a device."""

    __tablename__ = "member_devices"

    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PseudonymKey(Base):
    """The secret member ids are hashed with: made once, shared by every replica."""

    __tablename__ = "pseudonym_keys"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MemberStanding(Base):
    """Where a member stands, as the nightly lifecycle job last saw it: their purchase segments
    (with the day each began), frequency drop tier and model figures. Loyalty writes it; the
    promotion engine reads it to choose an offer's variant by tier."""

    __tablename__ = "member_standings"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    mall_id: Mapped[int] = mapped_column(BigInteger, index=True)
    segments: Mapped[list[str]] = mapped_column(JSONB)
    since: Mapped[dict[str, str]] = mapped_column(JSONB)  # segment -> ISO day it began
    tier: Mapped[str | None] = mapped_column(String(8))  # mild | severe frequency drop
    frequency_drop: Mapped[float | None] = mapped_column(Float)
    purchases: Mapped[int] = mapped_column(Integer)
    last_purchase: Mapped[date | None] = mapped_column(Date)
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases: Mapped[float | None] = mapped_column(Float)  # over the horizon
    expected_spend: Mapped[float | None] = mapped_column(Float)  # per purchase
    predicted_value: Mapped[float | None] = mapped_column(Float)  # over the horizon
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
