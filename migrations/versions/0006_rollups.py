"""jobs: nightly shopper segments and the daily analytics roll-up

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shopper_segments",
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("segments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"],
                                name=op.f("fk_shopper_segments_device_id_devices"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mall_id"], ["malls.id"],
                                name=op.f("fk_shopper_segments_mall_id_malls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mall_id", "device_id", name=op.f("pk_shopper_segments")),
    )  # fmt: skip
    op.create_table(
        "promotion_days",
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("held_out", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("redeemed", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mall_id"], ["malls.id"],
                                name=op.f("fk_promotion_days_mall_id_malls"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["promotion_id"], ["promotions.id"],
                                name=op.f("fk_promotion_days_promotion_id_promotions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("promotion_id", "day", name=op.f("pk_promotion_days")),
    )  # fmt: skip
    op.create_index("ix_promotion_days_mall_id_day", "promotion_days", ["mall_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_promotion_days_mall_id_day", table_name="promotion_days")
    op.drop_table("promotion_days")
    op.drop_table("shopper_segments")
