"""CLI sign-in hardening: wrong device user codes counted per guesser and per device authorization"""

from __future__ import annotations

from broker.store.migrations._ddl import create, drop, table

CLI_USER_CODE_ATTEMPTS = (
    table("cli_user_code_attempts")
    .string("key_hash", 64)
    .string("kind", 16)
    .integer("failures")
    .timestamp("window_started_at")
    .nullable_timestamp("locked_until")
    .timestamp("expires_at")
    .primary_key("key_hash")
    .index("expires_at")
)

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    create(CLI_USER_CODE_ATTEMPTS)


def downgrade() -> None:
    drop(CLI_USER_CODE_ATTEMPTS)
