"""initial schema"""

from __future__ import annotations

from broker.store.migrations._ddl import create, drop, inline_policies, table

ACCOUNTS = (
    table("accounts")
    .string("id", 12)
    .nullable_string("alias", 63)
    .string("name", 50)
    .nullable_string("email", 254)
    .timestamp("created_at")
    .primary_key("id")
    .unique("alias")
)
AUDIT_EVENTS = (
    table("audit_events")
    .serial("seq")
    .string("event_id", 36)
    .timestamp("event_time")
    .string("event_source", 64)
    .string("event_name", 128)
    .nullable_string("username", 256)
    .nullable_string("access_key_id", 20)
    .nullable_string("error_code", 64)
    .boolean("read_only")
    .json("record")
    .primary_key("seq")
    .unique("event_id")
    .index("event_name")
    .index("event_time", name="ix_audit_events_time")
)
SAML_REQUESTS = (
    table("saml_requests")
    .string("request_id", 128)
    .string("provider_arn", 2048)
    .string("browser_binding", 64)
    .nullable_string("relay_state", 512)
    .timestamp("created_at")
    .timestamp("expires_at")
    .nullable_timestamp("consumed_at")
    .primary_key("request_id")
    .index("expires_at")
)
SEEN_ASSERTIONS = (
    table("seen_assertions")
    .string("issuer", 1024)
    .string("assertion_id", 256)
    .timestamp("expires_at")
    .primary_key("issuer", "assertion_id")
    .index("expires_at")
)
WEB_SESSIONS = (
    table("web_sessions")
    .string("id_hash", 64)
    .string("provider_arn", 2048)
    .string("subject", 1024)
    .json("assertion")
    .string("csrf_token", 64)
    .timestamp("created_at")
    .timestamp("expires_at")
    .primary_key("id_hash")
    .index("expires_at")
)
ROLES = (
    table("roles")
    .serial("id")
    .string("account_id", 12)
    .string("name", 64)
    .string("name_key", 64)
    .string("path", 512)
    .string("role_id", 32)
    .string("arn", 2048)
    .text("trust_policy")
    .string("description", 1000)
    .integer("max_session_duration")
    .nullable_string("permissions_boundary_arn", 2048)
    .timestamp("created_at")
    .json("tags")
    .nullable_timestamp("last_used_at")
    .nullable_string("last_used_region", 32)
    .foreign_key("account_id", "accounts.id")
    .primary_key("id")
    .unique("account_id", "name_key")
    .unique("arn")
    .unique("role_id")
    .index("account_id")
)
SAML_PROVIDERS = (
    table("saml_providers")
    .serial("id")
    .string("account_id", 12)
    .string("name", 128)
    .string("name_key", 128)
    .string("arn", 2048)
    .string("entity_id", 1024)
    .text("metadata_xml")
    .nullable_timestamp("valid_until")
    .timestamp("created_at")
    .json("tags")
    .json("options")
    .string("source", 300)
    .foreign_key("account_id", "accounts.id")
    .primary_key("id")
    .unique("account_id", "name_key")
    .unique("arn")
    .index("account_id")
    .index("entity_id")
)
USERS = (
    table("users")
    .serial("id")
    .string("account_id", 12)
    .string("name", 64)
    .string("name_key", 64)
    .string("path", 512)
    .string("user_id", 32)
    .string("arn", 2048)
    .timestamp("created_at")
    .json("tags")
    .foreign_key("account_id", "accounts.id")
    .primary_key("id")
    .unique("account_id", "name_key")
    .unique("arn")
    .unique("user_id")
    .index("account_id")
)
ACCESS_KEYS = (
    table("access_keys")
    .string("access_key_id", 20)
    .integer("user_pk")
    .text("secret_sealed")
    .string("status", 8)
    .timestamp("created_at")
    .nullable_timestamp("last_used_at")
    .nullable_string("last_used_service", 32)
    .nullable_string("last_used_region", 32)
    .foreign_key("user_pk", "users.id", ondelete="CASCADE")
    .primary_key("access_key_id")
    .index("user_pk")
)
TABLES = (
    ACCOUNTS,
    AUDIT_EVENTS,
    SAML_REQUESTS,
    SEEN_ASSERTIONS,
    WEB_SESSIONS,
    ROLES,
    SAML_PROVIDERS,
    USERS,
    ACCESS_KEYS,
    inline_policies("role", "roles"),
    inline_policies("user", "users"),
)

revision, down_revision = "0001", None


def upgrade() -> None:
    create(*TABLES)


def downgrade() -> None:
    drop(*TABLES)
