"""Device tokens: JWTs signed with the platform's secret, carrying the device's token version.

Nothing of a token is stored: it is checked by signature, and revoked by bumping the device's
`token_version` (rotation) or by deleting the device (erasure).
"""

from __future__ import annotations

import functools
import secrets
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from access.models import SigningKey

_ALGORITHM = "HS256"
_AUDIENCE = "mallcast-device"


@dataclass(frozen=True)
class DeviceClaims:
    device_id: uuid.UUID
    version: int


class DeviceTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._verified = functools.lru_cache(maxsize=16_384)(self._verify)

    @classmethod
    def from_database(cls, session: Session, configured: str | None) -> DeviceTokens:
        """The configured secret, else the one in the database (made once, shared by replicas)."""
        if configured:
            return cls(configured.encode())
        session.execute(
            insert(SigningKey)
            .values(id=1, secret=secrets.token_bytes(64))
            .on_conflict_do_nothing(index_elements=["id"])
        )
        secret = session.scalar(select(SigningKey.secret).where(SigningKey.id == 1))
        session.commit()
        assert secret is not None
        return cls(secret)

    def issue(self, device_id: uuid.UUID, version: int) -> str:
        claims = {"sub": str(device_id), "ver": version, "aud": _AUDIENCE}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> DeviceClaims | None:
        # A device sends the same token with every ping: the signature is checked once per
        # process (revocation is the database's business, not the signature's).
        return self._verified(token)

    def _verify(self, token: str) -> DeviceClaims | None:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                options={"require": ["sub", "ver", "aud"]},
            )
            return DeviceClaims(uuid.UUID(claims["sub"]), int(claims["ver"]))
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
