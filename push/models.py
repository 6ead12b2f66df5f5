"""Tables of the push domain: the outbox of deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Delivery(Base):
    """The outbox: one push to send, written in the transaction of its decision."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'sending', 'retry', 'sent', 'dead_token', 'failed', "
            "'expired', 'no_address')",
            name="state",
        ),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'retry', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        ForeignKey("decisions.id", ondelete="CASCADE"), unique=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="pending")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict[str, str]] = mapped_column(JSONB)
    collapse_key: Mapped[str] = mapped_column(String(64))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(4096))  # the one last sent to
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fcm_message_name: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(String(1000))
