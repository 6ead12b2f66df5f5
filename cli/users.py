"""`mallcast users ...`: staff accounts of the console, on the running database.

There is no mail server: a new account and a password reset print a one-time link to hand to
the person (it works once, for MALLCAST_SIGNIN_LINK_HOURS).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console, fail, open_database, scope_text
from core.settings import get_settings

users_app = typer.Typer(help="Staff accounts of the console (people; API keys are for machines)")


def signin_link(token: str) -> str:
    # The token rides in the fragment: browsers never send it, so no access log keeps it.
    return f"{get_settings().console_url}link#{token}"


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The person's email (their sign-in name)")],
    role: Annotated[str, typer.Option(help="operator or tenant")],
    mall: Annotated[
        list[int] | None, typer.Option(help="Operator: a mall they manage (repeatable; none: all)")
    ] = None,
    tenant: Annotated[int | None, typer.Option(help="Tenant staff: the tenant (store) id")] = None,
) -> None:
    """Create an account and print its one-time sign-in link."""
    from access.staff import create_user
    from core.errors import MallcastError

    hours = get_settings().signin_link_hours
    with open_database() as database, database.sessions() as session:
        try:
            issued = create_user(
                session,
                email=email,
                role=role,
                mall_ids=mall or [],
                tenant_id=tenant,
                link_hours=hours,
            )
        except MallcastError as exc:
            raise fail(exc.message) from None
        session.commit()
    scope = f"tenant {tenant}" if role == "tenant" else f"malls {mall}" if mall else "every mall"
    console.print(
        f"{role} account {issued.user.email} ({scope}); its one-time link, valid "
        f"{hours:g} hours, to set a password:",
        highlight=False,
    )
    typer.echo(signin_link(issued.token))


@users_app.command("reset")
def users_reset(email: Annotated[str, typer.Argument(help="The account's email")]) -> None:
    """Print a new one-time link to set the account's password (earlier links stop working)."""
    from access.staff import reset_link
    from core.errors import MallcastError

    with open_database() as database, database.sessions() as session:
        try:
            issued = reset_link(session, email, link_hours=get_settings().signin_link_hours)
        except MallcastError as exc:
            raise fail(exc.message) from None
        session.commit()
    console.print(f"one-time link for {issued.user.email}:", highlight=False)
    typer.echo(signin_link(issued.token))


@users_app.command("delete")
def users_delete(email: Annotated[str, typer.Argument(help="The account's email")]) -> None:
    """Delete an account; its sessions end at once."""
    from access.staff import delete_user
    from core.errors import MallcastError

    with open_database() as database, database.sessions() as session:
        try:
            delete_user(session, email)
        except MallcastError as exc:
            raise fail(exc.message) from None
        session.commit()
    console.print(f"deleted {email}", highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List accounts: email, role, scope, whether a password is set."""
    from access.staff import list_users

    with open_database() as database, database.sessions() as session:
        for user in list_users(session):
            scope = scope_text(user)
            state = "active" if user.password_hash else "link not used yet"
            typer.echo(f"{user.email}  {user.role:8}  {scope:20}  {state}")
