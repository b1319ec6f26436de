"""sso: the SSO-OIDC and portal APIs (client registrations, authorizations, tokens)"""

from __future__ import annotations

from broker.store.migrations._ddl import create, drop, table

SSO_CLIENTS = (
    table("sso_clients")
    .string("client_id", 64)
    .string("client_secret_hash", 64)
    .string("client_name", 128)
    .string("client_type", 16)
    .json("registration")
    .timestamp("created_at")
    .timestamp("expires_at")
    .primary_key("client_id")
    .index("expires_at")
)
SSO_AUTHORIZATIONS = (
    table("sso_authorizations")
    .string("grant_hash", 64)
    .string("kind", 8)
    .string("client_id", 64)
    .nullable_string("user_code", 16)
    .nullable_string("redirect_uri", 512)
    .nullable_string("state", 512)
    .nullable_string("code_challenge", 128)
    .nullable_string("code_hash", 64)
    .nullable_string("start_url", 512)
    .nullable_string("source_ip", 64)
    .integer("interval_seconds")
    .string("status", 16)
    .nullable_string("web_session_hash", 64)
    .timestamp("created_at")
    .timestamp("expires_at")
    .nullable_timestamp("last_polled_at")
    .nullable_timestamp("decided_at")
    .nullable_timestamp("consumed_at")
    .foreign_key("client_id", "sso_clients.client_id", ondelete="CASCADE")
    .primary_key("grant_hash")
    .unique("user_code")
    .unique("code_hash")
    .index("client_id")
    .index("expires_at")
)
SSO_SESSIONS = (
    table("sso_sessions")
    .string("session_id", 32)
    .string("refresh_hash", 64)
    .string("client_id", 64)
    .string("subject", 1024)
    .string("provider_arn", 2048)
    .json("sign_in")
    .string("grant_ref", 64)
    .timestamp("created_at")
    .timestamp("expires_at")
    .nullable_timestamp("last_used_at")
    .nullable_timestamp("revoked_at")
    .primary_key("session_id")
    .unique("refresh_hash")
    .index("client_id")
    .index("expires_at")
    .index("grant_ref")
)
SSO_ACCESS_TOKENS = (
    table("sso_access_tokens")
    .string("token_hash", 64)
    .string("session_id", 32)
    .timestamp("created_at")
    .timestamp("expires_at")
    .foreign_key("session_id", "sso_sessions.session_id", ondelete="CASCADE")
    .primary_key("token_hash")
    .index("expires_at")
    .index("session_id")
)
TABLES = (SSO_CLIENTS, SSO_AUTHORIZATIONS, SSO_SESSIONS, SSO_ACCESS_TOKENS)

revision, down_revision = "0012", "0011"


def upgrade() -> None:
    create(*TABLES)


def downgrade() -> None:
    drop(*TABLES)
