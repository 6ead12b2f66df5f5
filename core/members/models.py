"""Members of a mall's loyalty programme, known only by a keyed hash of their member id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    LargeBinary,
    SmallInteger,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


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
