"""The AWS Organizations domain values: plain frozen dataclasses, never ORM rows.

The store builds them from its rows; the use cases and the wire read them. The ARN of a root,
OU, account or policy names its organization's management account and id, so each value that
has one computes it from the :class:`Organization` it belongs to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.iam import orgs


@dataclass(frozen=True)
class Organization:
    id: str
    feature_set: str
    management_account_id: str

    @property
    def arn(self) -> str:
        return orgs.organization_arn(self.management_account_id, self.id)

    def account_arn(self, account_id: str) -> str:
        return orgs.account_arn(self.management_account_id, self.id, account_id)


@dataclass(frozen=True)
class OrganizationDescription:
    """DescribeOrganization's answer: the organization and its management account's email."""

    organization: Organization
    management_email: str | None


@dataclass(frozen=True)
class Root:
    id: str
    name: str
    policy_types: tuple[tuple[str, str], ...]  # (type, status), by type

    def arn(self, organization: Organization) -> str:
        return orgs.root_arn(organization.management_account_id, organization.id, self.id)


@dataclass(frozen=True)
class OrganizationalUnit:
    id: str
    name: str

    def arn(self, organization: Organization) -> str:
        return orgs.ou_arn(organization.management_account_id, organization.id, self.id)


@dataclass(frozen=True)
class Node:
    """A root or OU as the organization keeps it: the root is the one node without a parent, and
    ``path`` lists the ids from the root down to the node ("r-…/ou-…")."""

    id: str
    organization_id: str
    kind: str  # ROOT | ORGANIZATIONAL_UNIT
    name: str
    parent_id: str | None
    path: str
    policy_types: Mapping[str, str] = field(default_factory=dict)  # type -> status

    @property
    def depth(self) -> int:
        """0 for the root, 1 for an OU directly under it..."""
        return self.path.count("/")

    def as_root(self) -> Root:
        return Root(self.id, self.name, tuple(sorted(self.policy_types.items())))

    def as_unit(self) -> OrganizationalUnit:
        return OrganizationalUnit(self.id, self.name)


@dataclass(frozen=True)
class Membership:
    """Where an account sits in its organization."""

    account_id: str
    organization_id: str
    parent_id: str


def account_label(name: str | None, alias: str | None, account_id: str) -> str:
    """The name an account goes by in the organization."""
    return name or alias or account_id


@dataclass(frozen=True)
class Account:
    """A member account as DescribeAccount and ListAccounts show it."""

    id: str
    name: str
    email: str | None
    joined_method: str
    joined_at: dt.datetime
    status: str = "ACTIVE"  # SUSPENDED once CloseAccount closed it


@dataclass(frozen=True)
class CreateAccountStatus:
    id: str
    account_name: str
    state: str  # IN_PROGRESS | SUCCEEDED | FAILED
    requested_at: dt.datetime
    completed_at: dt.datetime | None
    account_id: str | None
    failure_reason: str | None


def policy_arn(management_account: str, org_id: str, policy_id: str, aws_managed: bool) -> str:
    if aws_managed:
        return orgs.aws_managed_policy_arn(policy_id)
    return orgs.policy_arn(management_account, org_id, policy_id)


@dataclass(frozen=True)
class Policy:
    id: str
    type: str
    name: str
    description: str
    content: str
    aws_managed: bool
    organization_id: str | None = field(default=None, compare=False)  # None for AWS managed policies

    def arn(self, organization: Organization) -> str:
        return policy_arn(organization.management_account_id, organization.id, self.id, self.aws_managed)


@dataclass(frozen=True)
class PolicyAttachment:
    policy_id: str
    target_id: str


@dataclass(frozen=True)
class Link:
    """A child or parent as ListChildren / ListParents show it."""

    id: str
    type: str


@dataclass(frozen=True)
class Target:
    """A root, OU or account as ListTargetsForPolicy describes it."""

    id: str
    type: str
    arn: str
    name: str
