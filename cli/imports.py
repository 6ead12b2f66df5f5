"""`mallcast import ...`: history in bulk, on the running database; `mallcast lifecycle`:
what the history says of each member, now rather than tonight."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.common import console, fail, open_database

import_app = typer.Typer(help="Bulk imports (history from other systems)")


@import_app.command("purchases")
def import_purchases(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV: txn_id, member_id, store, at, amount, currency, items[, lines][, refund_of]",
        ),
    ],
    mall: Annotated[int, typer.Option(help="The mall the receipts are of")],
) -> None:
    """Load receipts from a CSV, all or nothing; those stored before are skipped."""
    from core.errors import MallcastError
    from loyalty.csv_import import import_file

    with open_database() as database, database.sessions() as session:
        try:
            summary = import_file(session, mall, file)
        except MallcastError as exc:
            raise fail(exc.message) from None
        session.commit()
    rate = summary.received / summary.seconds if summary.seconds else 0.0
    returns = f" ({summary.refunds:,} of them returns)" if summary.refunds else ""
    console.print(
        f"{summary.received:,} receipts read: {summary.stored:,} stored{returns}, "
        f"{summary.duplicates:,} stored before; {summary.members_new:,} new members; "
        f"{summary.seconds:.1f} s ({rate:,.0f} receipts/s)",
        highlight=False,
    )


def lifecycle(
    mall: Annotated[int | None, typer.Option(help="Only this mall (default: every mall)")] = None,
) -> None:
    """Place members now, as the nightly job does: fit the lifetime model, file each member
    under their purchase segments, count the lifecycle figures (e.g. after importing history)."""
    from sqlalchemy import select

    from geofence.models import Mall
    from loyalty.models import LifecycleScope
    from loyalty.nightly import refresh_lifecycle

    with open_database() as database:
        with database.sessions() as session:
            query = select(Mall.id, Mall.timezone).order_by(Mall.id)
            malls = session.execute(query if mall is None else query.where(Mall.id == mall)).all()
        if not malls:
            raise fail(f"no mall {mall}" if mall is not None else "no malls yet")
        for mall_id, timezone in malls:
            with database.sessions() as session:
                placed = refresh_lifecycle(session, mall_id, timezone, datetime.now(UTC))
                session.commit()
                scope = session.get(LifecycleScope, (mall_id, 0, ""))
            model = scope.model if scope else {}
            fitted = (
                f"model fitted on {model['members_fitted']:,} members in {model['fit_s']} s"
                if model.get("members_fitted")
                else "too few buyers to fit the model yet"
            )
            console.print(f"mall {mall_id}: {placed:,} members placed; {fitted}", highlight=False)
