"""API keys of operators and tenants: created once, shown once, stored as a SHA-256 digest.

A key reads `mc_<key id>_<secret>`. The id finds the row; the secret (32 random bytes) is
compared by digest in constant time. A high-entropy random secret needs no slow hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.models import ApiKey, ApiKeyMall
from core.db import utcnow
from core.errors import InvalidInput, NotFound
from core.tenants.models import Tenant
from geofence.models import Mall

_KEY = re.compile(r"^mc_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,100})$")


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKey
    plaintext: str


def create_key(
    session: Session,
    *,
    role: str,
    mall_ids: Sequence[int] = (),
    tenant_id: int | None = None,
    label: str = "",
) -> IssuedKey:
    """An operator key (for the given malls, or every mall when none given) or a tenant key."""
    check_scope(session, role=role, mall_ids=mall_ids, tenant_id=tenant_id)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        id=key_id,
        role=role,
        label=label,
        secret_sha256=_digest(secret),
        all_malls=role == "operator" and not mall_ids,
        tenant_id=tenant_id,
        malls=[ApiKeyMall(mall_id=mall_id) for mall_id in sorted(set(mall_ids))],
    )
    session.add(row)
    session.flush()
    return IssuedKey(row, f"mc_{key_id}_{secret}")


def check_scope(
    session: Session, *, role: str, mall_ids: Sequence[int], tenant_id: int | None
) -> None:
    """The scope of a key or a staff account: an operator's malls (none: every mall) exist; a
    tenant's store exists. The same rules for machines and people."""
    if role == "operator":
        if tenant_id is not None:
            raise InvalidInput("an operator has no tenant", code="invalid_scope")
        known = set(session.scalars(select(Mall.id).where(Mall.id.in_(mall_ids))))
        missing = sorted(set(mall_ids) - known)
        if missing:
            raise NotFound(f"no mall with id {missing[0]}", code="mall_not_found")
    elif role == "tenant":
        if tenant_id is None or mall_ids:
            raise InvalidInput("a tenant needs --tenant and no --mall", code="invalid_scope")
        if session.get(Tenant, tenant_id) is None:
            raise NotFound(f"no tenant with id {tenant_id}", code="tenant_not_found")
    else:
        raise InvalidInput(f"unknown role {role!r}: operator or tenant", code="invalid_role")


def verify_key(session: Session, plaintext: str) -> ApiKey | None:
    """The live key row for a presented key, or None (unknown, wrong secret, revoked)."""
    match = _KEY.match(plaintext)
    if not match:
        return None
    row = session.get(ApiKey, match["id"])
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(match["secret"])):
        return None
    return row


def revoke_key(session: Session, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id.removeprefix("mc_").split("_")[0])
    if row is None:
        raise NotFound(f"no API key {key_id}", code="key_not_found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
