"""iam parity: instance profiles, service-linked roles, service-specific credentials, AWS-managed policies"""

from __future__ import annotations

revision, down_revision = "0013", "0012"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
