"""The account as IAM sees it: its alias, and the snapshot GetAccountAuthorizationDetails gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, validate_account_alias, validation_error
from broker.services.iam import views
from broker.services.iam._common import flush_or_exists, tag_list
from broker.services.iam.policies import AWS_ACCOUNT
from broker.store import models
from broker.store import repositories as repo

DETAIL_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")


def _account(session: Session, account_id: str) -> models.Account:
    return repo.ensure_account(session, account_id)


def create_account_alias(session: Session, account_id: str, alias: str) -> None:
    """An account has at most one alias; creating another replaces it (as the console's "Edit")."""
    validate_account_alias(alias)
    owner = repo.account_by_alias(session, alias)
    if owner is not None and owner.id != account_id:
        raise AwsError("EntityAlreadyExists", f"The account alias {alias} already exists.")
    _account(session, account_id).alias = alias
    flush_or_exists(session, f"The account alias {alias} already exists.")


def delete_account_alias(session: Session, account_id: str, alias: str) -> None:
    validate_account_alias(alias)
    account = _account(session, account_id)
    if account.alias != alias:
        raise AwsError("NoSuchEntity", f"The account alias {alias} cannot be found.")
    account.alias = None


def account_aliases(session: Session, account_id: str) -> list[str]:
    account = repo.get_account(session, account_id)
    return [account.alias] if account is not None and account.alias else []


@dataclass(frozen=True)
class Detail:
    """One entry of GetAccountAuthorizationDetails: which list it goes in, and its structure."""

    list_name: str
    sort_key: str
    value: dict[str, Any]


def _user_detail(user: models.User) -> dict[str, Any]:
    return {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": user.created_at,
        "UserPolicyList": [views.inline_detail(p.name, p.document) for p in user.inline_policies],
        "GroupList": [g.name for g in user.groups],
        "AttachedManagedPolicies": [views.attached_view(p) for p in user.attached_policies],
        "PermissionsBoundary": views.boundary_view(user.permissions_boundary_arn),
        "Tags": tag_list(user.tags),
    }


def _group_detail(group: models.Group) -> dict[str, Any]:
    return {
        **views.group_view(group),
        "GroupPolicyList": [views.inline_detail(p.name, p.document) for p in group.inline_policies],
        "AttachedManagedPolicies": [views.attached_view(p) for p in group.attached_policies],
    }


def _role_detail(role: models.Role) -> dict[str, Any]:
    used: dict[str, Any] = {}
    if role.last_used_at:
        used = {"LastUsedDate": role.last_used_at, "Region": role.last_used_region}
    return {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": views.document_out(role.trust_policy),
        "InstanceProfileList": [],
        "RolePolicyList": [views.inline_detail(p.name, p.document) for p in role.inline_policies],
        "AttachedManagedPolicies": [views.attached_view(p) for p in role.attached_policies],
        "PermissionsBoundary": views.boundary_view(role.permissions_boundary_arn),
        "Tags": tag_list(role.tags),
        "RoleLastUsed": used,
    }


def _policy_detail(policy: models.ManagedPolicy, attachments: int, boundaries: int) -> dict[str, Any]:
    return {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": boundaries,
        "IsAttachable": True,
        "Description": policy.description or None,
        "CreateDate": policy.created_at,
        "UpdateDate": policy.updated_at,
        "PolicyVersionList": [views.version_view(v, policy.default_version_id) for v in policy.versions],
    }


def authorization_details(session: Session, account_id: str, filters: list[str]) -> list[Detail]:
    """Every user, group, role and managed policy in scope, in one stable order for paging.

    AWS-managed policies are included only when something in the account uses them.
    """
    for index, value in enumerate(filters, start=1):
        if value not in DETAIL_FILTERS:
            raise validation_error(
                [
                    constraint_violation(
                        value, f"filter.{index}.member", f"must satisfy enum value set: [{', '.join(DETAIL_FILTERS)}]"
                    )
                ]
            )
    wanted = set(filters) or set(DETAIL_FILTERS)
    details: list[Detail] = []
    if "User" in wanted:
        details += [
            Detail("UserDetailList", f"1:{u.name_key}", _user_detail(u)) for u in repo.list_users(session, account_id)
        ]
    if "Group" in wanted:
        details += [
            Detail("GroupDetailList", f"2:{g.name_key}", _group_detail(g))
            for g in repo.list_groups(session, account_id)
        ]
    if "Role" in wanted:
        details += [
            Detail("RoleDetailList", f"3:{r.name_key}", _role_detail(r)) for r in repo.list_roles(session, account_id)
        ]
    owners = tuple(
        owner
        for owner, kind in ((account_id, "LocalManagedPolicy"), (AWS_ACCOUNT, "AWSManagedPolicy"))
        if kind in wanted
    )
    if owners:
        attachments = repo.attachment_counts(session, account_id)
        boundaries = repo.boundary_counts(session, account_id)
        for policy in repo.list_policies(session, owners):
            used = (attachments.get(policy.id, 0), boundaries.get(policy.arn, 0))
            if policy.is_aws_managed and not any(used):
                continue
            details.append(
                Detail("Policies", f"4:{policy.name_key}:{policy.account_id}", _policy_detail(policy, *used))
            )
    return details
