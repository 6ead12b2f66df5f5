"""What every console page shares: the signed-in person, the templates, cookies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from access.models import StaffUser
from access.staff import session_user
from api.deps import SessionDep, end_reads
from api.gate import SESSION_COOKIE
from core.errors import Forbidden, MallcastError
from core.scope import MallScope
from core.settings import Settings
from core.tenants.models import Tenant

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")  # autoescapes .html


class SignInRequired(MallcastError):
    """A page asked for without a live session: the console answers with the sign-in page."""

    code = "signed_out"
    status = 401


@dataclass(frozen=True)
class Staff:
    """The person a page is for, and the scope they act in (the API checks it again)."""

    user_id: int
    email: str
    role: str
    csrf_token: str
    scope: MallScope  # an operator's malls; a tenant's own mall
    tenant_id: int | None = None
    tenant_name: str | None = None

    @property
    def mall_id(self) -> int | None:
        """A tenant's mall (operators choose one on each page)."""
        ids = self.scope.mall_ids
        return next(iter(ids)) if self.tenant_id is not None and ids else None


def current_staff(request: Request, session: SessionDep) -> Staff:
    cookie = request.cookies.get(SESSION_COOKIE)
    found = session_user(session, cookie) if cookie else None
    if found is None:
        raise SignInRequired("sign in first")
    user, row = found
    staff = Staff(user.id, user.email, user.role, row.csrf_token, _scope(user))
    if user.tenant_id is not None:
        tenant = session.get(Tenant, user.tenant_id)
        assert tenant is not None  # the account goes with its tenant (ON DELETE CASCADE)
        staff = Staff(
            user.id,
            user.email,
            user.role,
            row.csrf_token,
            MallScope(frozenset({tenant.mall_id})),
            tenant.id,
            tenant.name,
        )
    end_reads(session)
    return staff


def _scope(user: StaffUser) -> MallScope:
    if user.all_malls:
        return MallScope.everything()
    return MallScope(frozenset(link.mall_id for link in user.malls))


def operator_staff(staff: Annotated[Staff, Depends(current_staff)]) -> Staff:
    if staff.role != "operator":
        raise Forbidden("this page is for the mall's operators", code="wrong_role")
    return staff


def tenant_staff(staff: Annotated[Staff, Depends(current_staff)]) -> Staff:
    if staff.role != "tenant":
        raise Forbidden("this page is for a store's staff", code="wrong_role")
    return staff


StaffDep = Annotated[Staff, Depends(current_staff)]
OperatorStaff = Annotated[Staff, Depends(operator_staff)]
TenantStaff = Annotated[Staff, Depends(tenant_staff)]


def secure_cookies(request: Request) -> bool:
    """Secure when the console is served over HTTPS (directly, or as MALLCAST_PUBLIC_URL says
    behind a proxy that ends TLS)."""
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or (settings.public_url or "").startswith("https://")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path of ours, never another site."""
    if not target or not target.startswith("/console/") or target.startswith("//"):
        return "/console/"
    if any(c in target for c in "\\\r\n"):
        return "/console/"
    return target


# The purchase segments as the customers page offers them (core.members.models.PURCHASE_SEGMENTS).
SEGMENT_LABELS = (
    ("drop_mild", "Buying less (mild drop)"),
    ("drop_severe", "Buying much less (severe drop)"),
    ("churn_risk", "At churn risk"),
    ("top_spender", "Top spenders"),
    ("lapsed_buyer", "Lapsed buyers"),
    ("new_not_bought", "New, not bought yet"),
)
