"""the hot path: generation counters for cache validity, the trusted-principal index of role
trust policies, and audit events marked management or data
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from broker.store.migrations._ddl import create, drop, table

# One counter per scope (an account id, or "*" for what spans accounts: organizations), bumped
# in the transaction of any change to what the scope's caches hold.
GENERATIONS = table("generations").string("scope", 64).big_integer("value").primary_key("scope")
# Who each role's trust policy names as a principal ("*" for anyone, or when it cannot be told).
ROLE_TRUSTED_PRINCIPALS = (
    table("role_trusted_principals")
    .integer("role_pk")
    .string("principal", 2048)
    .foreign_key("role_pk", "roles.id", ondelete="CASCADE")
    .primary_key("role_pk", "principal")
    .index("principal")
)

revision, down_revision = "0007", "0006"


def upgrade() -> None:
    create(GENERATIONS, ROLE_TRUSTED_PRINCIPALS)
    # A plain ADD COLUMN with a default: no rebuild of the events table on SQLite.
    op.add_column("audit_events", sa.Column("management_event", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("management_event")
    drop(GENERATIONS, ROLE_TRUSTED_PRINCIPALS)
