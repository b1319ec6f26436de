"""What the Organizations use cases hand back: plain values, never ORM rows.

The ARN of a root, OU, account or policy names its organization's management account and id,
so each value that has one computes it from the :class:`Organization` it belongs to.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from broker.iam import orgs

if TYPE_CHECKING:
    from broker.store import models


@dataclass(frozen=True)
class Organization:
    id: str
    feature_set: str
    management_account_id: str

    @classmethod
    def of(cls, row: models.Organization) -> Organization:
        return cls(row.id, row.feature_set, row.management_account_id)

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

    @classmethod
    def of(cls, row: models.OrganizationNode) -> Root:
        return cls(row.id, row.name, tuple(sorted((row.policy_types or {}).items())))

    def arn(self, organization: Organization) -> str:
        return orgs.root_arn(organization.management_account_id, organization.id, self.id)


@dataclass(frozen=True)
class OrganizationalUnit:
    id: str
    name: str

    @classmethod
    def of(cls, row: models.OrganizationNode) -> OrganizationalUnit:
        return cls(row.id, row.name)

    def arn(self, organization: Organization) -> str:
        return orgs.ou_arn(organization.management_account_id, organization.id, self.id)


def account_label(account: models.Account) -> str:
    """The name an account goes by in the organization."""
    return account.name or account.alias or account.id


@dataclass(frozen=True)
class Account:
    """A member account as DescribeAccount and ListAccounts show it."""

    id: str
    name: str
    email: str | None
    joined_method: str
    joined_at: dt.datetime

    @classmethod
    def of(cls, row: models.OrganizationAccount) -> Account:
        account = row.account
        return cls(row.account_id, account_label(account), account.email or None, row.joined_method, row.joined_at)


@dataclass(frozen=True)
class CreateAccountStatus:
    id: str
    account_name: str
    state: str  # IN_PROGRESS | SUCCEEDED | FAILED
    requested_at: dt.datetime
    completed_at: dt.datetime | None
    account_id: str | None
    failure_reason: str | None

    @classmethod
    def of(cls, row: models.CreateAccountRequest) -> CreateAccountStatus:
        return cls(
            row.id,
            row.account_name,
            row.state,
            row.requested_at,
            row.completed_at,
            row.account_id or None,
            row.failure_reason or None,
        )


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

    @classmethod
    def of(cls, row: models.OrganizationPolicy) -> Policy:
        return cls(row.id, row.type, row.name, row.description, row.content, row.aws_managed)

    def arn(self, organization: Organization) -> str:
        return policy_arn(organization.management_account_id, organization.id, self.id, self.aws_managed)


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
