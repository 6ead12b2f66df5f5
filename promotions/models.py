"""Tables of the promotions domain: tenants, promotions, mall rules, decisions, redemptions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Promotion(Base):
    """An offer of a tenant. Targets, schedule, audience and limits are JSON documents whose
    shapes are promotions.schemas; `status` follows draft -> submitted -> approved/rejected,
    and approved -> paused/ended."""

    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'rejected', 'paused', 'ended')",
            name="status",
        ),
        CheckConstraint("trigger IN ('enter', 'dwell', 'exit', 'segment')", name="trigger"),
        Index("ix_promotions_mall_id_status", "mall_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    translations: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    image_url: Mapped[str | None] = mapped_column(String(2048))
    deep_link: Mapped[str | None] = mapped_column(String(2048))
    category: Mapped[str] = mapped_column(String(64))
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB)
    trigger: Mapped[str] = mapped_column(String(8))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    audience: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    limits: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    redemption: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)  # per tier
    status: Mapped[str] = mapped_column(String(16), default="draft")
    rejection_reason: Mapped[str | None] = mapped_column(String(1000))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class MallRules(Base):
    """What the operator decides for the whole mall; one row per mall (defaults when absent)."""

    __tablename__ = "mall_rules"

    mall_id: Mapped[int] = mapped_column(
        ForeignKey("malls.id", ondelete="CASCADE"), primary_key=True
    )
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Decision(Base):
    """What the engine decided for one zone event, or for a member entering a segment
    (`outreach_key`: promotion, member, segment and the day they entered it, at most once),
    with its reasons (kept for 'why')."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint("outcome IN ('sent', 'holdout', 'none')", name="outcome"),
        Index("ix_decisions_device_id_at", "device_id", "at"),
        Index("ix_decisions_promotion_id_outcome", "promotion_id", "outcome"),
        Index("ix_decisions_mall_id_at", "mall_id", "at"),
        # Caps count today's sends of a mall: a small part of its decisions (most say "none").
        Index(
            "ix_decisions_sent_mall_id_at",
            "mall_id",
            "at",
            postgresql_where=text("outcome = 'sent'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("zone_events.id", ondelete="CASCADE"), unique=True
    )
    outreach_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"))
    promotion_id: Mapped[int | None] = mapped_column(
        ForeignKey("promotions.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    outcome: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(64))
    segments: Mapped[list[str]] = mapped_column(JSONB, default=list)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    redemption_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    variant: Mapped[str | None] = mapped_column(String(8))  # the tier whose variant went out
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Redemption(Base):
    """A shopper used an offer: reported by the app, or by the tenant checking a code."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("device_id", "promotion_id"),
        CheckConstraint("source IN ('app', 'code')", name="source"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    promotion_id: Mapped[int] = mapped_column(
        ForeignKey("promotions.id", ondelete="CASCADE"), index=True
    )
    # The send or holdout decision it is attributed to (within the attribution window).
    decision_id: Mapped[int | None] = mapped_column(
        ForeignKey("decisions.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ShopperSegments(Base):
    """The nightly recompute: each shopper's segments in a mall, for audience sizes. Decisions
    compute segments live; this is what operators plan with ("how many lapsed shoppers?")."""

    __tablename__ = "shopper_segments"

    mall_id: Mapped[int] = mapped_column(
        ForeignKey("malls.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    segments: Mapped[list[str]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PromotionDay(Base):
    """The analytics roll-up: a promotion's funnel per day of its mall's local calendar."""

    __tablename__ = "promotion_days"
    __table_args__ = (Index("ix_promotion_days_mall_id_day", "mall_id", "day"),)

    promotion_id: Mapped[int] = mapped_column(
        ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    sent: Mapped[int] = mapped_column(Integer)
    held_out: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer)
    opened: Mapped[int] = mapped_column(Integer)
    redeemed: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
