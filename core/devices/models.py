"""The shopper's device: the unit of consent, presence and delivery, which every domain uses."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Device(Base):
    """One installation of the shopper app: the unit of consent, presence and delivery."""

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("platform IN ('android', 'ios', 'web')", name="platform"),
        # A push address is one installation's: registering it again finds its other holder
        # (core.devices.service). Hash: equality only, and tokens longer than a B-tree takes.
        Index("ix_devices_fcm_token", "fcm_token", postgresql_using="hash"),
        Index("ix_devices_fcm_fid", "fcm_fid", postgresql_using="hash"),
    )

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
    consent_loyalty: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
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
