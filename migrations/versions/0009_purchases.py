"""purchases: loyalty members (pseudonymised), their devices and consent, receipts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "devices",
        sa.Column("consent_loyalty", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_table(
        "pseudonym_keys",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("secret", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pseudonym_keys")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("pseudonym", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mall_id"], ["malls.id"], name=op.f("fk_members_mall_id_malls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("mall_id", "pseudonym", name=op.f("uq_members_mall_id_pseudonym")),
    )
    op.create_index(op.f("ix_members_mall_id"), "members", ["mall_id"])
    op.create_table(
        "member_devices",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_member_devices_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_devices_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_member_devices")),
    )
    op.create_index(op.f("ix_member_devices_member_id"), "member_devices", ["member_id"])
    op.create_table(
        "purchases",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("txn_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_purchases_amount")),
        sa.CheckConstraint("items >= 1", name=op.f("ck_purchases_items")),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_purchases_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_purchases_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("tenant_id", "txn_id", name=op.f("uq_purchases_tenant_id_txn_id")),
    )
    op.create_index("ix_purchases_mall_id_at", "purchases", ["mall_id", "at"])
    op.create_index("ix_purchases_member_id_at", "purchases", ["member_id", "at"])


def downgrade() -> None:
    op.drop_table("purchases")
    op.drop_table("member_devices")
    op.drop_table("members")
    op.drop_table("pseudonym_keys")
    op.drop_column("devices", "consent_loyalty")
