"""Tables of the geofencing domain: malls, their levels (floors) and zones."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

# Polygon or MultiPolygon in WGS 84; the service layer checks the type before anything is stored.
AREA = Geometry("GEOMETRY", srid=4326, spatial_index=True)


class Mall(Base):
    __tablename__ = "malls"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    footprint: Mapped[WKBElement] = mapped_column(AREA)
    # Bumped on every zone or level change, so that API replicas can tell their index is stale.
    zones_version: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Level(Base):
    """A floor. `ordinal` orders floors as IMDF does: 0 is the ground floor, -1 the one below."""

    __tablename__ = "levels"
    __table_args__ = (
        UniqueConstraint("mall_id", "ordinal"),
        UniqueConstraint("mall_id", "name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))


class Zone(Base):
    """An area of a mall on one level, or on all levels when `level_id` is NULL."""

    __tablename__ = "zones"
    __table_args__ = (
        UniqueConstraint("mall_id", "ref"),
        Index("ix_zones_mall_id_level_id", "mall_id", "level_id"),
        CheckConstraint("occupancy IN ('unit', 'area')", name="occupancy"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"))
    level_id: Mapped[int | None] = mapped_column(
        ForeignKey("levels.id", ondelete="RESTRICT"), index=True
    )
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="SET NULL"), index=True
    )
    # The operator's own identifier (e.g. the unit id of the floor plan): imports upsert by it.
    ref: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    geom: Mapped[WKBElement] = mapped_column(AREA)
    dwell_seconds: Mapped[int] = mapped_column(Integer)
    # The operator's word on how presence treats it; NULL: by its kind (geofence.index).
    occupancy: Mapped[str | None] = mapped_column(String(8))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Ping(Base):
    """A raw location ping inside a mall, kept for analytics until the retention ends.

    (device, ts) is the identity of a ping: sending it again is a duplicate, not a new ping.
    """

    __tablename__ = "pings"
    __table_args__ = (Index("ix_pings_ts", "ts", postgresql_using="brin"),)

    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lon: Mapped[float] = mapped_column(Double)
    lat: Mapped[float] = mapped_column(Double)
    accuracy_m: Mapped[float] = mapped_column(Float)
    level: Mapped[int | None] = mapped_column(SmallInteger)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    # Bit set of geofence.presence.PingFlag: why a ping caused no transition.
    flags: Mapped[int] = mapped_column(SmallInteger, default=0)


class Presence(Base):
    """Where a device is, durably: a restart in the middle of a visit must not enter again."""

    __tablename__ = "presence"

    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"), index=True)
    # When the last ping arrived (server time), not its own `ts`: the sweep judges silence by it.
    last_ping_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ZoneEvent(Base):
    """An enter, dwell or exit of a device, in a zone or (subject 'mall') in the mall itself."""

    __tablename__ = "zone_events"
    __table_args__ = (
        CheckConstraint("kind IN ('enter', 'dwell', 'exit')", name="kind"),
        CheckConstraint("subject IN ('mall', 'zone')", name="subject"),
        Index("ix_zone_events_mall_id_at", "mall_id", "at"),
        Index("ix_zone_events_device_id_at", "device_id", "at"),
        Index("ix_zone_events_zone_id_at", "zone_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    mall_id: Mapped[int] = mapped_column(ForeignKey("malls.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(8))
    # NULL for mall events. No foreign key: the history keeps the id of a zone deleted since.
    zone_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dwell_s: Mapped[float | None] = mapped_column(Float)
    level: Mapped[int | None] = mapped_column(SmallInteger)
    reason: Mapped[str | None] = mapped_column(String(32))
    # Unit enters: how sure occupancy inference was, and the stop that decided (from, fixes).
    confidence: Mapped[float | None] = mapped_column(Float)
    evidence_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evidence_fixes: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
