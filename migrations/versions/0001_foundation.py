"""foundation: malls, levels, zones, tenants, api keys

Revision ID: 0001
Revises:
Create Date: 2026-11-24 08:40:41.243542
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_geospatial_table(
        "malls",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "footprint",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("zones_version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_malls")),
        sa.UniqueConstraint("name", name=op.f("uq_malls_name")),
    )
    op.create_geospatial_index(
        "idx_malls_footprint",
        "malls",
        ["footprint"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "levels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["mall_id"], ["malls.id"], name=op.f("fk_levels_mall_id_malls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_levels")),
        sa.UniqueConstraint("mall_id", "name", name=op.f("uq_levels_mall_id_name")),
        sa.UniqueConstraint("mall_id", "ordinal", name=op.f("uq_levels_mall_id_ordinal")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mall_id"], ["malls.id"], name=op.f("fk_tenants_mall_id_malls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("mall_id", "name", name=op.f("uq_tenants_mall_id_name")),
    )
    op.create_index(op.f("ix_tenants_mall_id"), "tenants", ["mall_id"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("secret_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("all_malls", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role = 'tenant') = (tenant_id IS NOT NULL)", name=op.f("ck_api_keys_tenant_scope")
        ),
        sa.CheckConstraint("role IN ('operator', 'tenant')", name=op.f("ck_api_keys_role")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"], unique=False)
    op.create_geospatial_table(
        "zones",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.Column("level_id", sa.BigInteger(), nullable=True),
        sa.Column("tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("ref", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("dwell_seconds", sa.Integer(), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["level_id"], ["levels.id"], name=op.f("fk_zones_level_id_levels"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["mall_id"], ["malls.id"], name=op.f("fk_zones_mall_id_malls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_zones_tenant_id_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
        sa.UniqueConstraint("mall_id", "ref", name=op.f("uq_zones_mall_id_ref")),
    )
    op.create_geospatial_index(
        "idx_zones_geom",
        "zones",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_zones_level_id"), "zones", ["level_id"], unique=False)
    op.create_index("ix_zones_mall_id_level_id", "zones", ["mall_id", "level_id"], unique=False)
    op.create_index(op.f("ix_zones_tenant_id"), "zones", ["tenant_id"], unique=False)
    op.create_table(
        "api_key_malls",
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column("mall_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_malls_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mall_id"],
            ["malls.id"],
            name=op.f("fk_api_key_malls_mall_id_malls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "mall_id", name=op.f("pk_api_key_malls")),
    )
    op.create_index(op.f("ix_api_key_malls_mall_id"), "api_key_malls", ["mall_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_key_malls_mall_id"), table_name="api_key_malls")
    op.drop_table("api_key_malls")
    op.drop_index(op.f("ix_zones_tenant_id"), table_name="zones")
    op.drop_index("ix_zones_mall_id_level_id", table_name="zones")
    op.drop_index(op.f("ix_zones_level_id"), table_name="zones")
    op.drop_geospatial_index(
        "idx_zones_geom", table_name="zones", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("zones")
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(op.f("ix_tenants_mall_id"), table_name="tenants")
    op.drop_table("tenants")
    op.drop_table("levels")
    op.drop_geospatial_index(
        "idx_malls_footprint", table_name="malls", postgresql_using="gist", column_name="footprint"
    )
    op.drop_geospatial_table("malls")
