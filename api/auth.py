"""Who is calling: typed dependencies that *are* the permission checks.

`Operator` and `TenantUser` in a handler's signature authenticate the bearer key and check its
role; `OperatorMall` also resolves the `{mall_id}` of the path within the operator's scope (a mall
outside it is a 404, never a 403 that would confirm it exists).
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBasic, HTTPBearer
from sqlalchemy.orm import Session

from access.keys import verify_key
from access.models import ApiKey, StaffUser
from access.staff import session_user
from access.tokens import DeviceClaims, DeviceTokens
from api.deps import SessionDep, end_reads
from api.gate import SESSION_COOKIE
from api.params import MallId
from core.db import Database, lock_row
from core.devices.models import Device
from core.errors import Forbidden, Unauthorized
from core.scope import MallScope
from core.settings import Settings
from core.tenants.models import Tenant
from geofence.malls import get_mall
from geofence.models import Mall


class _DeclaredBearer(HTTPBearer):
    """Declares a bearer scheme in the OpenAPI document (Swagger's Authorize button, generated
    clients); the credentials themselves are checked below, with mallcast's own errors."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _DeclaredBasic(HTTPBasic):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


API_KEY = _DeclaredBearer(
    scheme_name="apiKey",
    bearerFormat="mc_<id>_<secret>",
    description="An operator's or a tenant's API key (`mallcast keys create`)",
)
DEVICE_TOKEN = _DeclaredBearer(
    scheme_name="deviceToken",
    bearerFormat="JWT",
    description="The device token POST /v1/devices returned",
)
OWNTRACKS = _DeclaredBasic(
    scheme_name="ownTracks",
    description="OwnTracks HTTP mode: user = device id, password = device token",
)


CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """Who calls the operator or tenant API: a machine's API key or a person signed in to the
    console. Both carry the same scopes, checked by the same dependencies below."""

    id: str  # key:<key id> | staff:<account id>
    role: str
    all_malls: bool
    mall_ids: frozenset[int]
    tenant_id: int | None


@dataclass(frozen=True)
class OperatorPrincipal:
    caller_id: str
    scope: MallScope


@dataclass(frozen=True)
class TenantPrincipal:
    caller_id: str
    tenant_id: int
    mall_id: int


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized(
            "send your API key as `Authorization: Bearer <key>`", code="missing_credentials"
        )
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized(
            "the Authorization header must read `Bearer <key>`", code="invalid_credentials"
        )
    return credentials.strip()


def _caller(request: Request, session: SessionDep, _: None = Security(API_KEY)) -> Caller:
    """An Authorization header is a machine's key; without one, the console's session cookie
    is a person's, and a change must then carry the session's CSRF token in `X-CSRF-Token`
    (a cookie rides along on a forged cross-site form; a header set by our script does not)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and "authorization" not in request.headers:
        return _staff_caller(request, session, cookie)
    row = verify_key(session, _bearer(request))
    if row is None:
        raise Unauthorized("unknown or revoked API key", code="invalid_credentials")
    caller = _caller_of("key", row)
    end_reads(session)
    return caller


def _staff_caller(request: Request, session: Session, cookie: str) -> Caller:
    found = session_user(session, cookie)
    if found is None:
        raise Unauthorized("your console session has ended: sign in again", code="signed_out")
    user, staff_session = found
    if request.method not in _SAFE_METHODS and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, "").encode(), staff_session.csrf_token.encode()
    ):
        raise Forbidden(
            "this change lacks the console's CSRF token: reload the page and try again",
            code="csrf_failed",
        )
    caller = _caller_of("staff", user)
    end_reads(session)
    return caller


def _caller_of(kind: str, row: ApiKey | StaffUser) -> Caller:
    return Caller(
        id=f"{kind}:{row.id}",
        role=row.role,
        all_malls=row.all_malls,
        mall_ids=frozenset(link.mall_id for link in row.malls),
        tenant_id=row.tenant_id,
    )


CallerDep = Annotated[Caller, Depends(_caller)]


def current_operator(caller: CallerDep) -> OperatorPrincipal:
    if caller.role != "operator":
        raise Forbidden(
            "this needs an operator's key or account; yours is a tenant's", code="wrong_role"
        )
    scope = MallScope.everything() if caller.all_malls else MallScope(caller.mall_ids)
    return OperatorPrincipal(caller_id=caller.id, scope=scope)


def current_tenant(caller: CallerDep, session: SessionDep) -> TenantPrincipal:
    if caller.role != "tenant" or caller.tenant_id is None:
        raise Forbidden(
            "this needs a tenant's key or account; yours is an operator's", code="wrong_role"
        )
    tenant = session.get(Tenant, caller.tenant_id)
    end_reads(session)
    if tenant is None:  # deleted with its keys in the same transaction; never seen, but be sure
        raise Unauthorized("unknown or revoked API key", code="invalid_credentials")
    return TenantPrincipal(caller_id=caller.id, tenant_id=tenant.id, mall_id=tenant.mall_id)


Operator = Annotated[OperatorPrincipal, Depends(current_operator)]
TenantUser = Annotated[TenantPrincipal, Depends(current_tenant)]


def operator_mall(operator: Operator, session: SessionDep, mall_id: MallId) -> Mall:
    mall = get_mall(session, operator.scope, mall_id)
    end_reads(session)
    return mall


OperatorMall = Annotated[Mall, Depends(operator_mall)]


_tokens_lock = threading.Lock()


async def device_tokens(request: Request) -> DeviceTokens:
    # Async (no thread hop per request, see api.deps): the database is read once per process.
    tokens: DeviceTokens | None = getattr(request.app.state, "device_tokens", None)
    if tokens is None:
        tokens = await run_in_threadpool(_load_tokens, request)
    return tokens


def _load_tokens(request: Request) -> DeviceTokens:
    with _tokens_lock:
        tokens: DeviceTokens | None = getattr(request.app.state, "device_tokens", None)
        if tokens is None:
            settings: Settings = request.app.state.settings
            database: Database = request.app.state.database
            with database.sessions() as session:
                tokens = DeviceTokens.from_database(session, settings.secret_key)
            request.app.state.device_tokens = tokens
        return tokens


DeviceTokensDep = Annotated[DeviceTokens, Depends(device_tokens)]


def verify_device_token(tokens: DeviceTokens, device_id: str | None, token: str) -> DeviceClaims:
    """The claims of a well-signed device token; `device_id`, when given (Basic auth), must
    match. Whether the device still exists and the token is current, the database says."""
    if token.startswith("mc_"):
        raise Forbidden("this needs a device token, not an API key", code="wrong_role")
    claims = tokens.verify(token)
    if claims is None or (device_id is not None and device_id != str(claims.device_id)):
        raise Unauthorized("unknown or revoked device token", code="invalid_credentials")
    return claims


def authenticate_device(
    session: Session, tokens: DeviceTokens, device_id: str | None, token: str
) -> Device:
    """The device a token belongs to; `device_id`, when given (Basic auth), must match."""
    claims = verify_device_token(tokens, device_id, token)
    device = session.get(Device, claims.device_id)
    end_reads(session)
    if device is None or device.token_version != claims.version:
        raise Unauthorized("unknown or revoked device token", code="invalid_credentials")
    return device


def lock_device(session: Session, device: Device) -> Device:
    """The caller's device again, locked for the change the request makes: a request that met
    a concurrent erasure or token rotation is answered as its token now would be (401)."""
    version = device.token_version
    locked = lock_row(session, Device, device.id)
    if locked is None or locked.token_version != version:
        raise Unauthorized("unknown or revoked device token", code="invalid_credentials")
    return locked


def current_device(
    request: Request, session: SessionDep, tokens: DeviceTokensDep, _: None = Security(DEVICE_TOKEN)
) -> Device:
    return authenticate_device(session, tokens, None, _bearer(request))


async def device_claims(
    request: Request, tokens: DeviceTokensDep, _: None = Security(DEVICE_TOKEN)
) -> DeviceClaims:
    # No database here: the ping path checks the device row when it locks it (api.ingest_gate).
    return verify_device_token(tokens, None, _bearer(request))


ShopperDevice = Annotated[Device, Depends(current_device)]
ShopperClaims = Annotated[DeviceClaims, Depends(device_claims)]
