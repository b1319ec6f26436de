"""rate limits: the token buckets every broker instance shares"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from broker.store.migrations._ddl import create, drop, table

RATE_LIMIT_BUCKETS = (
    table("rate_limit_buckets")
    .string("bucket", 32)
    .string("key", 128)
    .column("tat", sa.Double())
    .boolean("admitted")
    .integer("refused")
    .integer("suppressed")
    .column("reported_at", sa.Double())
    .primary_key("bucket", "key")
)

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    create(RATE_LIMIT_BUCKETS)
    if op.get_context().dialect.name == "postgresql":
        # Buckets need no crash safety (after a crash they start full) and no replicas: an
        # unlogged table writes no WAL, so a check commits without waiting for a disk flush.
        op.execute("ALTER TABLE rate_limit_buckets SET UNLOGGED")


def downgrade() -> None:
    drop(RATE_LIMIT_BUCKETS)
