"""push addresses: an FCM token or installation ID is found by value, to keep it on one device

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Devices that share an address today: the most recently seen keeps it.
    for column in ("fcm_token", "fcm_fid"):
        op.execute(
            f"UPDATE devices d SET {column} = NULL FROM devices o "  # noqa: S608
            f"WHERE d.{column} = o.{column} AND d.id <> o.id "
            "AND (coalesce(o.last_seen_at, o.created_at), o.id) "
            "> (coalesce(d.last_seen_at, d.created_at), d.id)"
        )
    op.create_index("ix_devices_fcm_token", "devices", ["fcm_token"], postgresql_using="hash")
    op.create_index("ix_devices_fcm_fid", "devices", ["fcm_fid"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_devices_fcm_fid", table_name="devices", postgresql_using="hash")
    op.drop_index("ix_devices_fcm_token", table_name="devices", postgresql_using="hash")
