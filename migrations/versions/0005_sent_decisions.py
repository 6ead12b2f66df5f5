"""decisions: a partial index of sends, so caps count today's pushes, not all decisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_decisions_sent_mall_id_at",
        "decisions",
        ["mall_id", "at"],
        unique=False,
        postgresql_where=sa.text("outcome = 'sent'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_decisions_sent_mall_id_at",
        table_name="decisions",
        postgresql_where=sa.text("outcome = 'sent'"),
    )
