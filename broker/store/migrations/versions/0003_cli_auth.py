"""CLI sign-in: browser authorizations (code + PKCE), device authorizations, CLI broker sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cli_authorizations",
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=512), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=512), nullable=False),
        sa.Column("requested_role_arn", sa.String(length=2048), nullable=True),
        sa.Column("requested_duration", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=256), nullable=True),
        sa.Column("web_session_hash", sa.String(length=64), nullable=True),
        sa.Column("role_arn", sa.String(length=2048), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_hash"),
        sa.UniqueConstraint("code_hash"),
    )
    with op.batch_alter_table("cli_authorizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cli_authorizations_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "device_authorizations",
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("requested_role_arn", sa.String(length=2048), nullable=True),
        sa.Column("requested_duration", sa.Integer(), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("web_session_hash", sa.String(length=64), nullable=True),
        sa.Column("role_arn", sa.String(length=2048), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("device_code_hash"),
        sa.UniqueConstraint("user_code"),
    )
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_authorizations_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "cli_sessions",
        sa.Column("handle_hash", sa.String(length=64), nullable=False),
        sa.Column("web_session_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("provider_arn", sa.String(length=2048), nullable=False),
        sa.Column("default_role_arn", sa.String(length=2048), nullable=False),
        sa.Column("grant_ref", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["web_session_hash"], ["web_sessions.id_hash"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("handle_hash"),
    )
    with op.batch_alter_table("cli_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cli_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cli_sessions_grant_ref"), ["grant_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_cli_sessions_web_session_hash"), ["web_session_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cli_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cli_sessions_web_session_hash"))
        batch_op.drop_index(batch_op.f("ix_cli_sessions_grant_ref"))
        batch_op.drop_index(batch_op.f("ix_cli_sessions_expires_at"))

    op.drop_table("cli_sessions")
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_authorizations_expires_at"))

    op.drop_table("device_authorizations")
    with op.batch_alter_table("cli_authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cli_authorizations_expires_at"))

    op.drop_table("cli_authorizations")
