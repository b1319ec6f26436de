"""metadata urls: providers whose IdP metadata the broker fetches on a schedule"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0011", "0010"

_COLUMNS = (
    ("metadata_url", sa.String(length=2048)),
    ("metadata_pin", sa.Text()),
    ("last_fetch_at", sa.DateTime(timezone=True)),
    ("last_fetch_error", sa.String(length=1000)),
    ("next_fetch_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Nullable columns, and one with a default: a plain ADD COLUMN on both SQLite and PostgreSQL.
    for name, type_ in _COLUMNS:
        op.add_column("saml_providers", sa.Column(name, type_, nullable=True))
    op.add_column("saml_providers", sa.Column("fetch_failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # DROP COLUMN without a table rebuild (SQLite 3.35+): the columns carry no constraint or index.
    op.drop_column("saml_providers", "fetch_failures")
    for name, _type in reversed(_COLUMNS):
        op.drop_column("saml_providers", name)
