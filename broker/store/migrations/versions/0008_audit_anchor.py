"""audit trail origin: one row saying whether `broker init` has written the trail's genesis digest

The row starts empty (no genesis yet); ``broker init`` writes the genesis digest and fills the row
in one transaction, and never writes another while the row says the trail has begun.
"""

from __future__ import annotations

from alembic import op

from broker.store.migrations._ddl import create, drop, table

AUDIT_TRAIL_ORIGIN = (
    table("audit_trail_origin")
    .integer("id")
    .nullable_integer("genesis_digest_index")
    .nullable_timestamp("began_at")
    .primary_key("id")
)

revision, down_revision = "0008", "0007"


def upgrade() -> None:
    create(AUDIT_TRAIL_ORIGIN)
    op.execute(AUDIT_TRAIL_ORIGIN.clause().insert().values(id=1))


def downgrade() -> None:
    drop(AUDIT_TRAIL_ORIGIN)
