"""The IAM domain values the services pass around: plain frozen dataclasses.

They carry no behaviour and do no validation: the store builds them from rows that were
validated on the way in (``broker.iam.names``), and ARNs are built by ``broker.iam.arn``.
Tags are a mapping from key to value as the entity stores them (keys unique
case-insensitively); ``create_date`` and other instants are timezone-aware UTC. Entities
with many fields are keyword-only so a reordering can't silently swap two strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from broker.iam import limits

AccessKeyStatus = Literal["Active", "Inactive"]


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    alias: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    account_id: str
    name: str
    path: str
    user_id: str
    arn: str
    create_date: datetime
    permissions_boundary_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    account_id: str
    name: str
    path: str
    group_id: str
    arn: str
    create_date: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Role:
    account_id: str
    name: str
    path: str
    role_id: str
    arn: str
    trust_policy: str  # the AssumeRolePolicyDocument, as submitted
    description: str | None = None
    max_session_duration: int = limits.MAX_SESSION_DURATION_DEFAULT
    permissions_boundary_arn: str | None = None
    create_date: datetime
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SamlProvider:
    account_id: str
    name: str
    arn: str
    metadata_xml: str
    valid_until: datetime | None = None
    create_date: datetime
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessKey:
    """A user's long-term key; the secret is never part of this value."""

    access_key_id: str
    user_name: str
    status: AccessKeyStatus
    create_date: datetime
