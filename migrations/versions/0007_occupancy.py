"""occupancy: units and areas per zone; unit enters keep their confidence and evidence

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("zones", sa.Column("occupancy", sa.String(length=8), nullable=True))
    op.create_check_constraint(op.f("ck_zones_occupancy"), "zones", "occupancy IN ('unit', 'area')")
    op.add_column("zone_events", sa.Column("confidence", sa.Float(), nullable=True))
    op.add_column(
        "zone_events", sa.Column("evidence_from", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("zone_events", sa.Column("evidence_fixes", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("zone_events", "evidence_fixes")
    op.drop_column("zone_events", "evidence_from")
    op.drop_column("zone_events", "confidence")
    op.drop_constraint(op.f("ck_zones_occupancy"), "zones", type_="check")
    op.drop_column("zones", "occupancy")
