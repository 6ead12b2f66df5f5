"""Who is calling: typed dependencies that *are* the permission checks.

`Operator` and `TenantUser` in a handler's signature authenticate the bearer key and check its
role; `OperatorMall` also resolves the `{mall_id}` of the path within the operator's scope (a mall
outside it is a 404, never a 403 that would confirm it exists).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBasic, HTTPBearer
from sqlalchemy.orm import Session

from access.keys import verify_key
from access.models import ApiKey
from access.tokens import DeviceClaims, DeviceTokens
from api.deps import SessionDep, end_reads
from api.params import MallId
from core.db import Database
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
    scheme_name="apiKey", bearerFormat="mc_<id>_<secret>",
    description="An operator's or a tenant's API key (`mallcast keys create`)",
)  # fmt: skip
DEVICE_TOKEN = _DeclaredBearer(
    scheme_name="deviceToken", bearerFormat="JWT",
    description="The device token POST /v1/devices returned",
)  # fmt: skip
OWNTRACKS = _DeclaredBasic(
    scheme_name="ownTracks", description="OwnTracks HTTP mode: user = device id, "
    "password = device token",
)  # fmt: skip


@dataclass(frozen=True)
class OperatorPrincipal:
    key_id: str
    scope: MallScope


@dataclass(frozen=True)
class TenantPrincipal:
    key_id: str
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


def _api_key(request: Request, session: SessionDep, _: None = Security(API_KEY)) -> ApiKey:
    row = verify_key(session, _bearer(request))
    if row is None:
        raise Unauthorized("unknown or revoked API key", code="invalid_credentials")
    row.malls  # noqa: B018  # loaded now, in this thread hop (current_operator reads it)
    end_reads(session)
    return row


ApiKeyDep = Annotated[ApiKey, Depends(_api_key)]


def current_operator(key: ApiKeyDep) -> OperatorPrincipal:
    if key.role != "operator":
        raise Forbidden(f"this needs an operator key; yours is a {key.role} key", code="wrong_role")
    scope = (
        MallScope.everything()
        if key.all_malls
        else MallScope(frozenset(link.mall_id for link in key.malls))
    )
    return OperatorPrincipal(key_id=key.id, scope=scope)


def current_tenant(key: ApiKeyDep, session: SessionDep) -> TenantPrincipal:
    if key.role != "tenant" or key.tenant_id is None:
        raise Forbidden(f"this needs a tenant key; yours is an {key.role} key", code="wrong_role")
    tenant = session.get(Tenant, key.tenant_id)
    end_reads(session)
    if tenant is None:  # deleted with its keys in the same transaction; never seen, but be sure
        raise Unauthorized("unknown or revoked API key", code="invalid_credentials")
    return TenantPrincipal(key_id=key.id, tenant_id=tenant.id, mall_id=tenant.mall_id)


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
