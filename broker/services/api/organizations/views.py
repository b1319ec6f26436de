"""Organizations' result shapes, as botocore's model names them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from broker.iam import orgs
from broker.iam.org_entities import (
    Account,
    CreateAccountStatus,
    Link,
    Organization,
    OrganizationalUnit,
    OrganizationDescription,
    Policy,
    Root,
    Target,
)


def _epoch(value: dt.datetime) -> float:
    return float(value.timestamp())


def organization(description: OrganizationDescription) -> dict[str, Any]:
    found = description.organization
    management = found.management_account_id
    view: dict[str, Any] = {
        "Id": found.id,
        "Arn": found.arn,
        "FeatureSet": found.feature_set,
        "MasterAccountArn": found.account_arn(management),
        "MasterAccountId": management,
    }
    if description.management_email:
        view["MasterAccountEmail"] = description.management_email
    # Deprecated in AWS's model, still sent: the types the feature set makes available.
    view["AvailablePolicyTypes"] = (
        [{"Type": orgs.SERVICE_CONTROL_POLICY, "Status": "ENABLED"}] if found.feature_set == "ALL" else []
    )
    return view


def root(organization: Organization, found: Root) -> dict[str, Any]:
    policy_types = [{"Type": kind, "Status": status} for kind, status in found.policy_types]
    return {"Id": found.id, "Arn": found.arn(organization), "Name": found.name, "PolicyTypes": policy_types}


def organizational_unit(organization: Organization, ou: OrganizationalUnit) -> dict[str, Any]:
    return {"Id": ou.id, "Arn": ou.arn(organization), "Name": ou.name}


def account(organization: Organization, member: Account) -> dict[str, Any]:
    view: dict[str, Any] = {"Id": member.id, "Arn": organization.account_arn(member.id)}
    if member.email:
        view["Email"] = member.email
    view.update(
        {
            "Name": member.name,
            "Status": member.status,
            "State": member.status,
            "JoinedMethod": member.joined_method,
            "JoinedTimestamp": _epoch(member.joined_at),
        }
    )
    return view


def create_account_status(status: CreateAccountStatus) -> dict[str, Any]:
    view: dict[str, Any] = {
        "Id": status.id,
        "AccountName": status.account_name,
        "State": status.state,
        "RequestedTimestamp": _epoch(status.requested_at),
    }
    if status.completed_at is not None:
        view["CompletedTimestamp"] = _epoch(status.completed_at)
    if status.account_id:
        view["AccountId"] = status.account_id
    if status.failure_reason:
        view["FailureReason"] = status.failure_reason
    return view


def policy_summary(organization: Organization, policy: Policy) -> dict[str, Any]:
    return {
        "Id": policy.id,
        "Arn": policy.arn(organization),
        "Name": policy.name,
        "Description": policy.description,
        "Type": policy.type,
        "AwsManaged": policy.aws_managed,
    }


def policy(organization: Organization, found: Policy) -> dict[str, Any]:
    return {"Policy": {"PolicySummary": policy_summary(organization, found), "Content": found.content}}


def link(found: Link) -> dict[str, Any]:
    """A child (ListChildren) or parent (ListParents)."""
    return {"Id": found.id, "Type": found.type}


def target(found: Target) -> dict[str, Any]:
    return {"TargetId": found.id, "Arn": found.arn, "Name": found.name, "Type": found.type}


def tag(pair: tuple[str, str]) -> dict[str, Any]:
    key, value = pair
    return {"Key": key, "Value": value}
