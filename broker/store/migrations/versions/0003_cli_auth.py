"""CLI sign-in: browser authorizations (code + PKCE), device authorizations, CLI broker sessions"""

from __future__ import annotations

from broker.store.migrations._ddl import create, drop, table

CLI_AUTHORIZATIONS = (
    table("cli_authorizations")
    .string("request_hash", 64)
    .nullable_string("code_hash", 64)
    .string("client_id", 64)
    .string("redirect_uri", 512)
    .string("code_challenge", 128)
    .string("state", 512)
    .nullable_string("requested_role_arn", 2048)
    .nullable_integer("requested_duration")
    .nullable_string("provider", 256)
    .nullable_string("web_session_hash", 64)
    .nullable_string("role_arn", 2048)
    .nullable_integer("duration_seconds")
    .timestamp("created_at")
    .timestamp("expires_at")
    .nullable_timestamp("code_expires_at")
    .nullable_timestamp("consumed_at")
    .primary_key("request_hash")
    .unique("code_hash")
    .index("expires_at")
)
DEVICE_AUTHORIZATIONS = (
    table("device_authorizations")
    .string("device_code_hash", 64)
    .string("user_code", 16)
    .string("client_id", 64)
    .nullable_string("requested_role_arn", 2048)
    .nullable_integer("requested_duration")
    .nullable_string("source_ip", 64)
    .integer("interval_seconds")
    .string("status", 16)
    .nullable_string("web_session_hash", 64)
    .nullable_string("role_arn", 2048)
    .nullable_integer("duration_seconds")
    .timestamp("created_at")
    .timestamp("expires_at")
    .nullable_timestamp("last_polled_at")
    .nullable_timestamp("decided_at")
    .nullable_timestamp("consumed_at")
    .primary_key("device_code_hash")
    .unique("user_code")
    .index("expires_at")
)
CLI_SESSIONS = (
    table("cli_sessions")
    .string("handle_hash", 64)
    .string("web_session_hash", 64)
    .string("client_id", 64)
    .string("subject", 1024)
    .string("provider_arn", 2048)
    .string("default_role_arn", 2048)
    .string("grant_ref", 64)
    .timestamp("created_at")
    .timestamp("expires_at")
    .nullable_timestamp("last_used_at")
    .nullable_timestamp("revoked_at")
    .foreign_key("web_session_hash", "web_sessions.id_hash", ondelete="CASCADE")
    .primary_key("handle_hash")
    .index("expires_at")
    .index("grant_ref")
    .index("web_session_hash")
)
TABLES = (CLI_AUTHORIZATIONS, DEVICE_AUTHORIZATIONS, CLI_SESSIONS)

revision, down_revision = "0003", "0002"


def upgrade() -> None:
    create(*TABLES)


def downgrade() -> None:
    drop(*TABLES)
