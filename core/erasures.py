"""The erasure ledger: who was erased and when, by hash only.

A backup taken before a shopper asked to be forgotten still holds them. The ledger lets a
restore over the live database erase them again (runtime.backup): it keeps no id anyone could
read back, only what finds the row again: the SHA-256 of a device's random id, and a member's
pseudonym (already a keyed hash of their member id).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, LargeBinary, String, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, utcnow


class Erasure(Base):
    __tablename__ = "erasures"
    __table_args__ = (CheckConstraint("kind IN ('device', 'member')", name="kind"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    mall_id: Mapped[int | None] = mapped_column(BigInteger)  # a member's mall (no key: it may go)
    key: Mapped[bytes] = mapped_column(LargeBinary(length=32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def device_key(device_id: uuid.UUID) -> bytes:
    return hashlib.sha256(device_id.bytes).digest()


def record_device(session: Session, device_id: uuid.UUID) -> None:
    session.execute(insert(Erasure).values(kind="device", key=device_key(device_id), at=utcnow()))


def record_member(session: Session, mall_id: int, pseudonym: bytes) -> None:
    session.execute(
        insert(Erasure).values(kind="member", mall_id=mall_id, key=pseudonym, at=utcnow())
    )


# Erase again, in a database restored from a backup, everyone the ledger names (their rows'
# dependants go by ON DELETE CASCADE, as at the first erasure). `sha256(uuid_send(id))` is
# device_key in SQL.
ERASE_AGAIN = (
    "DELETE FROM devices WHERE sha256(uuid_send(id)) IN "
    "(SELECT key FROM erasures WHERE kind = 'device')",
    "DELETE FROM members m USING erasures e "
    "WHERE e.kind = 'member' AND e.mall_id = m.mall_id AND e.key = m.pseudonym",
)
