"""virtual MFA devices: sealed seeds, assignment, replay guard and failure throttling"""

from __future__ import annotations

from broker.store.migrations._ddl import create, drop, table

MFA_DEVICES = (
    table("mfa_devices")
    .string("serial_number", 256)
    .string("account_id", 12)
    .string("name", 226)
    .string("name_key", 226)
    .string("path", 512)
    .text("seed_sealed")
    .timestamp("created_at")
    .json("tags")
    .nullable_integer("user_pk")
    .nullable_timestamp("enabled_at")
    .big_integer("last_used_step")
    .integer("failed_attempts")
    .nullable_timestamp("failures_since")
    .nullable_timestamp("locked_until")
    .foreign_key("account_id", "accounts.id")
    .foreign_key("user_pk", "users.id", ondelete="SET NULL")
    .primary_key("serial_number")
    .unique("account_id", "name_key")
    .index("account_id")
    .index("user_pk")
)

revision, down_revision = "0005", "0004"


def upgrade() -> None:
    create(MFA_DEVICES)


def downgrade() -> None:
    drop(MFA_DEVICES)
