"""`mallcast keys ...`: API keys of operators and tenants, on the running database."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import console, fail, open_database, scope_text

keys_app = typer.Typer(help="API keys of operators and tenants")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="operator or tenant")],
    mall: Annotated[
        list[int] | None, typer.Option(help="Operator: a mall it may manage (repeatable)")
    ] = None,
    tenant: Annotated[int | None, typer.Option(help="Tenant: the tenant id")] = None,
    label: Annotated[str, typer.Option(help="A note on who holds the key")] = "",
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from access.keys import create_key
    from core.errors import MallcastError

    with open_database() as database, database.sessions() as session:
        try:
            issued = create_key(
                session, role=role, mall_ids=mall or [], tenant_id=tenant, label=label
            )
        except MallcastError as exc:
            raise fail(exc.message) from None
        session.commit()
    scope = f"tenant {tenant}" if role == "tenant" else f"malls {mall}" if mall else "every mall"
    console.print(f"{role} key for {scope} (shown once, keep it safe):", highlight=False)
    typer.echo(issued.plaintext)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key, or its id")]) -> None:
    """Revoke a key: requests with it fail from now on."""
    from access.keys import revoke_key
    from core.errors import MallcastError

    with open_database() as database, database.sessions() as session:
        try:
            row = revoke_key(session, key_id)
        except MallcastError as exc:
            raise fail(exc.message) from None
        session.commit()
    console.print(f"revoked key {row.id}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, roles, scopes; never secrets)."""
    from access.keys import list_keys

    with open_database() as database, database.sessions() as session:
        for row in list_keys(session):
            scope = scope_text(row)
            state = "revoked" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.role:8}  {scope:20}  {state:8}  {row.label}")
