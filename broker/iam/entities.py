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
    """One tag as AWS lists it (``Key``, ``Value``)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Account:
    """An account: its 12-digit id, its IAM alias, and its name and email as Organizations knows them."""

    id: str
    alias: str | None = None
    name: str = ""
    email: str | None = None


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
    last_used_date: datetime | None = None  # RoleLastUsed
    last_used_region: str | None = None


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
    # AccessKeyLastUsed: when, for which service and in which region the key last signed.
    last_used_date: datetime | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedPolicy:
    """A customer managed policy, or an AWS-managed one (``account_id`` "aws")."""

    account_id: str
    name: str
    path: str
    policy_id: str
    arn: str
    default_version_id: str
    description: str | None = None
    create_date: datetime
    update_date: datetime
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def is_aws_managed(self) -> bool:
        return self.account_id == "aws"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyVersion:
    version_id: str
    number: int  # v1, v2...: never reused, so versions sort by it
    document: str
    is_default: bool
    create_date: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class MfaDevice:
    """A virtual MFA device; its seed is never part of this value."""

    serial_number: str
    account_id: str
    name: str
    path: str
    create_date: datetime
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    user: User | None = None  # the user it is enabled for
    enable_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class InlinePolicy:
    """A policy embedded in one user, group or role."""

    name: str
    document: str


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """A managed policy as authorization reads it: its ARN and its default version's document
    (``None`` when that version can no longer be read: such a policy grants nothing)."""

    arn: str
    document: str | None

    @property
    def is_aws_managed(self) -> bool:
        return self.arn.startswith("arn:aws:iam::aws:")


PrincipalKind = Literal["user", "group", "role"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PrincipalPolicies:
    """A user, group or role with every policy its authorization reads: its inline policies, the
    managed policies attached to it, its permissions boundary's ARN and (a user) its groups'."""

    kind: PrincipalKind
    account_id: str
    name: str
    arn: str
    unique_id: str  # user_id, group_id or role_id
    permissions_boundary_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    inline: tuple[InlinePolicy, ...] = ()
    attached: tuple[PolicyDocument, ...] = ()
    groups: tuple[PrincipalPolicies, ...] = ()
