"""Organizations handshakes: an organization's invitation of an account, and the states it goes through.

OPEN until the invited account accepts (ACCEPTED) or declines (DECLINED), the organization
cancels it (CANCELED), or 15 days pass (EXPIRED).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from broker.iam.arn import PARTITION

HANDSHAKE_ID: Final = re.compile(r"h-[0-9a-z]{8,32}")
INVITE: Final = "INVITE"
ACTION_TYPES: Final = ("INVITE", "ENABLE_ALL_FEATURES", "APPROVE_ALL_FEATURES", "ADD_ORGANIZATIONS_SERVICE_LINKED_ROLE")
TARGET_TYPES: Final = ("ACCOUNT", "EMAIL")
OPEN: Final = "OPEN"
INVITE_LIFETIME: Final = dt.timedelta(days=15)
NOTES_MAX: Final = 1024
_LOWER: Final = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_handshake_id() -> str:
    return "h-" + "".join(secrets.choice(_LOWER) for _ in range(10))


def handshake_arn(management_account: str, org_id: str, action: str, handshake_id: str) -> str:
    return f"arn:{PARTITION}:organizations::{management_account}:handshake/{org_id}/{action.lower()}/{handshake_id}"


@dataclass(frozen=True)
class Handshake:
    id: str
    organization_id: str
    management_account_id: str
    feature_set: str
    action: str
    target_type: str  # ACCOUNT | EMAIL
    target: str
    target_account_id: str
    state: str
    notes: str | None
    requested_at: dt.datetime
    expires_at: dt.datetime
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return handshake_arn(self.management_account_id, self.organization_id, self.action, self.id)

    def state_at(self, now: dt.datetime) -> str:
        """An open handshake past its expiry is EXPIRED (nothing needs to write that down)."""
        return "EXPIRED" if self.state == OPEN and now >= self.expires_at else self.state
