"""sso: the SSO-OIDC and portal APIs (client registrations, authorizations, tokens)"""

from __future__ import annotations

revision, down_revision = "0012", "0011"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
