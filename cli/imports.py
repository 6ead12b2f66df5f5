"""`mallcast import ...`: history in bulk, on the running database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import console, fail, open_database

import_app = typer.Typer(help="Bulk imports (history from other systems)")


@import_app.command("purchases")
def import_purchases(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV: txn_id, member_id, store, at, amount, "
                                         "currency, items[, lines]")],
    mall: Annotated[int, typer.Option(help="The mall the receipts are of")],
) -> None:  # fmt: skip
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
    console.print(
        f"{summary.received:,} receipts read: {summary.stored:,} stored, {summary.duplicates:,} "
        f"stored before; {summary.members_new:,} new members; {summary.seconds:.1f} s "
        f"({rate:,.0f} receipts/s)", highlight=False,
    )  # fmt: skip
