"""lifecycle: members' standings, the operator's loyalty rules, lifecycle figures by week

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSONB = postgresql.JSONB(astext_type=sa.Text())


def _mall_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["mall_id"], ["malls.id"], name=op.f(f"fk_{table}_mall_id_malls"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "member_standings",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("segments", _JSONB, nullable=False),
        sa.Column("since", _JSONB, nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=True),
        sa.Column("frequency_drop", sa.Float(), nullable=True),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("last_purchase", sa.Date(), nullable=True),
        sa.Column("p_alive", sa.Float(), nullable=True),
        sa.Column("expected_purchases", sa.Float(), nullable=True),
        sa.Column("expected_spend", sa.Float(), nullable=True),
        sa.Column("predicted_value", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_standings_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_standings")),
    )
    op.create_index(op.f("ix_member_standings_mall_id"), "member_standings", ["mall_id"])
    op.create_table(
        "loyalty_rules",
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("rules", _JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _mall_key("loyalty_rules"),
        sa.PrimaryKeyConstraint("mall_id", name=op.f("pk_loyalty_rules")),
    )
    op.create_table(
        "lifecycle_weeks",
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("activated", sa.Integer(), nullable=True),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("lapsed", sa.Integer(), nullable=False),
        _mall_key("lifecycle_weeks"),
        sa.PrimaryKeyConstraint(
            "mall_id", "tenant_id", "segment", "week", name=op.f("pk_lifecycle_weeks")
        ),
    )
    op.create_table(
        "lifecycle_scopes",
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("p_alive", _JSONB, nullable=False),
        sa.Column("predicted_value", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", _JSONB, nullable=False),
        _mall_key("lifecycle_scopes"),
        sa.PrimaryKeyConstraint(
            "mall_id", "tenant_id", "segment", name=op.f("pk_lifecycle_scopes")
        ),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_scopes")
    op.drop_table("lifecycle_weeks")
    op.drop_table("loyalty_rules")
    op.drop_table("member_standings")
