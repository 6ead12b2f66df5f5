"""Pseudonyms of member ids, members found or made by them, and their erasure.

A member id is what a loyalty card or app shows: personal data. mallcast keeps only
HMAC-SHA256(pseudonym key, "<mall id>:<member id>"): one member id gives one pseudonym per mall,
and without the key (kept in its own table, never in a response or a log) the table cannot be
joined back to people by hashing guessed ids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Iterable

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.db import utcnow
from core.erasures import record_member
from core.errors import InvalidInput
from core.members.models import Member, MemberDevice, PseudonymKey

MAX_MEMBER_ID = 64
_lock = threading.Lock()
_keys: dict[str, bytes] = {}  # per database URL: the key never changes once made


def pseudonym_key(session: Session) -> bytes:
    """The deployment's pseudonym key, made on first use (by whichever replica is first)."""
    url = str(session.get_bind().engine.url)
    with _lock:
        found = _keys.get(url)
        if found is None:
            session.execute(
                insert(PseudonymKey)
                .values(id=1, secret=secrets.token_bytes(32))
                .on_conflict_do_nothing(index_elements=["id"])
            )
            query = select(PseudonymKey.secret).where(PseudonymKey.id == 1)
            found = bytes(session.execute(query).scalar_one())
            _keys[url] = found
        return found


def normal_member_id(member_id: str) -> str:
    """As a till or a card types it: case and surrounding spaces do not make another member."""
    value = member_id.strip().upper()
    if not value or len(value) > MAX_MEMBER_ID or any(ord(c) < 32 for c in value):
        raise InvalidInput(
            f"a member id has 1 to {MAX_MEMBER_ID} printable characters",
            code="invalid_member_id",
            details={"field": "member_id"},
        )
    return value


def pseudonym(key: bytes, mall_id: int, member_id: str) -> bytes:
    message = f"{mall_id}:{normal_member_id(member_id)}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def members_by_pseudonym(
    session: Session, mall_id: int, pseudonyms: Iterable[bytes]
) -> dict[bytes, int]:
    """Member ids for these pseudonyms, making the members not seen before (in one statement;
    a concurrent batch making the same member is no conflict)."""
    wanted = sorted(set(pseudonyms))
    if not wanted:
        return {}
    session.execute(
        insert(Member)
        .values([{"mall_id": mall_id, "pseudonym": p} for p in wanted])
        .on_conflict_do_nothing(index_elements=["mall_id", "pseudonym"])
    )
    rows = session.execute(
        select(Member.pseudonym, Member.id).where(
            Member.mall_id == mall_id, Member.pseudonym.in_(wanted)
        )
    )
    return {bytes(p): member_id for p, member_id in rows}


def member_of(session: Session, device_id: uuid.UUID) -> int | None:
    """The member a device is linked to, if any."""
    return session.scalar(select(MemberDevice.member_id).where(MemberDevice.device_id == device_id))


def link_device(session: Session, device_id: uuid.UUID, mall_id: int, member_id: str) -> int:
    """Link the device to the member (made if new); a device has one member at a time."""
    key = pseudonym(pseudonym_key(session), mall_id, member_id)
    member = members_by_pseudonym(session, mall_id, [key])[key]
    session.execute(
        insert(MemberDevice)
        .values(device_id=device_id, member_id=member)
        .on_conflict_do_update(
            index_elements=["device_id"], set_={"member_id": member, "linked_at": utcnow()}
        )
    )
    return member


def unlink_device(session: Session, device_id: uuid.UUID) -> None:
    session.execute(delete(MemberDevice).where(MemberDevice.device_id == device_id))


def erase_member(session: Session, mall_id: int, member_id: str) -> bool:
    """Erase a member with everything about them: purchases and device links go with the row
    (ON DELETE CASCADE). True when there was such a member."""
    key = pseudonym(pseudonym_key(session), mall_id, member_id)
    gone = session.execute(delete(Member).where(Member.mall_id == mall_id, Member.pseudonym == key))
    if not getattr(gone, "rowcount", 0):
        return False
    record_member(session, mall_id, key)  # a restored backup erases them again
    return True


def count_members(session: Session, mall_id: int) -> int:
    return int(
        session.execute(
            text("SELECT count(*) FROM members WHERE mall_id = :m"), {"m": mall_id}
        ).scalar_one()
    )


_CURRENCY = text(
    "SELECT currency FROM purchases WHERE mall_id = :m GROUP BY currency "
    "ORDER BY count(*) DESC, currency LIMIT 1"
)


def mall_currency(session: Session, mall_id: int) -> str | None:
    """The currency of most of the mall's receipts (figures assume one a mall)."""
    return session.execute(_CURRENCY, {"m": mall_id}).scalar()
