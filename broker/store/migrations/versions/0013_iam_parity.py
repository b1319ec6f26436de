"""iam parity: instance profiles and the role each holds, service-linked role deletion tasks,
service-specific credentials,
Organizations handshakes, closed accounts"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from broker.store.migrations._ddl import create, drop, table

INSTANCE_PROFILES = (
    table("instance_profiles")
    .serial("id")
    .string("account_id", 12)
    .string("name", 128)
    .string("name_key", 128)
    .string("path", 512)
    .string("instance_profile_id", 32)
    .string("arn", 2048)
    .timestamp("created_at")
    .json("tags")
    .foreign_key("account_id", "accounts.id")
    .primary_key("id")
    .unique("account_id", "name_key")
    .unique("arn")
    .unique("instance_profile_id")
    .index("account_id")
)
INSTANCE_PROFILE_ROLES = (
    table("instance_profile_roles")
    .integer("profile_pk")
    .integer("role_pk")
    .foreign_key("profile_pk", "instance_profiles.id", ondelete="CASCADE")
    .foreign_key("role_pk", "roles.id")
    .primary_key("profile_pk", "role_pk")
    .index("role_pk")
)
SERVICE_LINKED_ROLE_DELETIONS = (
    table("service_linked_role_deletions")
    .string("deletion_task_id", 1000)
    .string("account_id", 12)
    .string("role_arn", 2048)
    .string("status", 16)
    .nullable_string("reason", 1000)
    .timestamp("created_at")
    .foreign_key("account_id", "accounts.id")
    .primary_key("deletion_task_id")
    .index("account_id")
)
SERVICE_SPECIFIC_CREDENTIALS = (
    table("service_specific_credentials")
    .string("credential_id", 128)
    .integer("user_pk")
    .string("service_name", 128)
    .string("service_user_name", 200)
    .text("password_sealed")
    .string("status", 8)
    .timestamp("created_at")
    .foreign_key("user_pk", "users.id", ondelete="CASCADE")
    .primary_key("credential_id")
    .index("user_pk")
)
ORGANIZATION_HANDSHAKES = (
    table("organization_handshakes")
    .string("id", 34)
    .string("organization_id", 34)
    .string("action", 32)
    .string("target_type", 16)
    .string("target", 254)
    .string("target_account_id", 12)
    .string("state", 16)
    .nullable_string("notes", 1024)
    .timestamp("requested_at")
    .timestamp("expires_at")
    .json("tags")
    .foreign_key("organization_id", "organizations.id", ondelete="CASCADE")
    .primary_key("id")
    .index("organization_id")
    .index("target")
    .index("target_account_id")
)
TABLES = (
    INSTANCE_PROFILES,
    INSTANCE_PROFILE_ROLES,
    SERVICE_LINKED_ROLE_DELETIONS,
    SERVICE_SPECIFIC_CREDENTIALS,
    ORGANIZATION_HANDSHAKES,
)

revision, down_revision = "0013", "0012"


def upgrade() -> None:
    create(*TABLES)
    # A nullable column: a plain ADD COLUMN on both SQLite and PostgreSQL.
    op.add_column("accounts", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # DROP COLUMN without a table rebuild (SQLite 3.35+): the column carries no constraint or index.
    op.drop_column("accounts", "closed_at")
    drop(*TABLES)
