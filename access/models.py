"""Tables of the API's own: credentials of operators and tenants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


class ApiKey(Base):
    """A bearer key. Only a SHA-256 of its random secret is kept: the key is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('operator', 'tenant')", name="role"),
        CheckConstraint("(role = 'tenant') = (tenant_id IS NOT NULL)", name="tenant_scope"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    secret_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Operators: every mall when true, else the malls listed in api_key_malls.
    all_malls: Mapped[bool] = mapped_column(Boolean, default=False)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    malls: Mapped[list[ApiKeyMall]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ApiKeyMall(Base):
    __tablename__ = "api_key_malls"

    api_key_id: Mapped[str] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    mall_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("malls.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SigningKey(Base):
    """The secret device tokens are signed with, made once and shared by every replica."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffUser(Base):
    """A person who signs in to the console. Operators for some malls or all, or tenant staff
    for one store: the scopes of API keys. The password is an Argon2id hash; none until the
    person opens their one-time link."""

    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('operator', 'tenant')", name="role"),
        CheckConstraint("(role = 'tenant') = (tenant_id IS NOT NULL)", name="tenant_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower case
    role: Mapped[str] = mapped_column(String(16))
    all_malls: Mapped[bool] = mapped_column(Boolean, default=False)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_signins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    malls: Mapped[list[StaffUserMall]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class SigninThrottle(Base):
    """Wrong passwords counted per account and client address, and per address alone: a guesser
    is slowed where they guess from, never the account's owner signing in elsewhere. Keyed by
    digests: no email or address is stored."""

    __tablename__ = "signin_throttles"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffUserMall(Base):
    __tablename__ = "staff_user_malls"

    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    mall_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("malls.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class StaffLink(Base):
    """A one-time sign-in link (a new account, a password reset): only its SHA-256 is kept."""

    __tablename__ = "staff_links"

    token_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random token, the row its SHA-256 and the
    session's CSRF token (server-side sessions end on sign-out, at once, on every replica)."""

    __tablename__ = "staff_sessions"

    token_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
