"""Tables of the push domain: the shoppers' devices and their FCM addresses."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Device(Base):
    """One installation of the shopper app: the unit of consent, presence and delivery."""

    __tablename__ = "devices"
    __table_args__ = (CheckConstraint("platform IN ('android', 'ios', 'web')", name="platform"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    platform: Mapped[str] = mapped_column(String(16))
    app_version: Mapped[str] = mapped_column(String(64), default="")
    locale: Mapped[str] = mapped_column(String(35), default="en")
    fcm_token: Mapped[str | None] = mapped_column(String(4096))
    # The Firebase installation ID: firebase-admin 7.5+ addresses messages by it.
    fcm_fid: Mapped[str | None] = mapped_column(String(200))
    # When FCM last called the address dead (UNREGISTERED): it is then forgotten.
    fcm_dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_location: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_marketing_push: Mapped[bool] = mapped_column(Boolean, default=False)
    consents_updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    interests: Mapped[list[str]] = mapped_column(JSONB, default=list)
    loyalty_tier: Mapped[str | None] = mapped_column(String(32))
    # The shopper's own quiet hours, local time of the mall ("22:00"-"08:00"), on top of the mall's.
    quiet_hours: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    # Bumped to revoke every token issued before (tokens carry the version they were signed at).
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    # The zones version last handed to the OwnTracks app as waypoints.
    owntracks_waypoints_version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
