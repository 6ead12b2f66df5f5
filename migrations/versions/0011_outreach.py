"""outreach: promotion variants per tier, segment-triggered promotions, decisions without a
zone event (outreach), the variant a decision sent

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "promotions",
        sa.Column(
            "variants",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.alter_column("promotions", "variants", server_default=None)
    op.drop_constraint(op.f("ck_promotions_trigger"), "promotions", type_="check")
    op.create_check_constraint(
        op.f("ck_promotions_trigger"),
        "promotions",
        "trigger IN ('enter', 'dwell', 'exit', 'segment')",
    )
    op.alter_column("decisions", "event_id", nullable=True)
    op.add_column("decisions", sa.Column("outreach_key", sa.String(length=120), nullable=True))
    op.create_unique_constraint(op.f("uq_decisions_outreach_key"), "decisions", ["outreach_key"])
    op.add_column("decisions", sa.Column("variant", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("decisions", "variant")
    op.drop_constraint(op.f("uq_decisions_outreach_key"), "decisions", type_="unique")
    op.drop_column("decisions", "outreach_key")
    op.execute("DELETE FROM decisions WHERE event_id IS NULL")
    op.alter_column("decisions", "event_id", nullable=False)
    op.drop_constraint(op.f("ck_promotions_trigger"), "promotions", type_="check")
    op.execute("DELETE FROM promotions WHERE trigger = 'segment'")
    op.create_check_constraint(
        op.f("ck_promotions_trigger"), "promotions", "trigger IN ('enter', 'dwell', 'exit')"
    )
    op.drop_column("promotions", "variants")
