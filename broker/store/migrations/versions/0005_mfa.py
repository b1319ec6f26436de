"""virtual MFA devices: sealed seeds, assignment, replay guard and failure throttling

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mfa_devices",
        sa.Column("serial_number", sa.String(length=256), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=226), nullable=False),
        sa.Column("name_key", sa.String(length=226), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("seed_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=True),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("failures_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["user_pk"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("serial_number"),
        sa.UniqueConstraint("account_id", "name_key"),
    )
    op.create_index(op.f("ix_mfa_devices_account_id"), "mfa_devices", ["account_id"], unique=False)
    op.create_index(op.f("ix_mfa_devices_user_pk"), "mfa_devices", ["user_pk"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_mfa_devices_user_pk"), table_name="mfa_devices")
    op.drop_index(op.f("ix_mfa_devices_account_id"), table_name="mfa_devices")
    op.drop_table("mfa_devices")
