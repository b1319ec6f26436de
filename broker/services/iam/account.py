"""The account as IAM sees it: its alias, and the snapshot GetAccountAuthorizationDetails gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, validate_account_alias, validation_error
from broker.services.iam import views
from broker.services.iam._common import save_or_exists
from broker.services.iam.paging import Entry
from broker.services.iam.policies import AWS_ACCOUNT
from broker.store import Tx
from broker.store.iam import accounts, principals
from broker.store.iam import policies as policy_store

DETAIL_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")


def create_account_alias(tx: Tx, account_id: str, alias: str) -> None:
    """An account has at most one alias; creating another replaces it (as the console's "Edit")."""
    validate_account_alias(alias)
    owner = accounts.account_by_alias(tx, alias)
    if owner is not None and owner.id != account_id:
        raise AwsError("EntityAlreadyExists", f"The account alias {alias} already exists.")
    accounts.ensure_account(tx, account_id).alias = alias
    save_or_exists(tx, f"The account alias {alias} already exists.")


def delete_account_alias(tx: Tx, account_id: str, alias: str) -> None:
    validate_account_alias(alias)
    account = accounts.ensure_account(tx, account_id)
    if account.alias != alias:
        raise AwsError("NoSuchEntity", f"The account alias {alias} cannot be found.")
    account.alias = None


def account_aliases(tx: Tx, account_id: str) -> list[Entry[str]]:
    account = accounts.get_account(tx, account_id)
    return [Entry(account.alias, account.alias)] if account is not None and account.alias else []


@dataclass(frozen=True)
class Detail:
    """One entry of GetAccountAuthorizationDetails: which list it goes in, and its structure."""

    list_name: str
    value: dict[str, Any]


def _check_filters(filters: list[str]) -> None:
    for index, value in enumerate(filters, start=1):
        if value not in DETAIL_FILTERS:
            raise validation_error(
                [
                    constraint_violation(
                        value, f"filter.{index}.member", f"must satisfy enum value set: [{', '.join(DETAIL_FILTERS)}]"
                    )
                ]
            )


def authorization_details(tx: Tx, account_id: str, filters: list[str]) -> list[Entry[Detail]]:
    """Every user, group, role and managed policy in scope, in one stable order for paging.

    AWS-managed policies are included only when something in the account uses them.
    """
    _check_filters(filters)
    wanted = set(filters) or set(DETAIL_FILTERS)
    details: list[Entry[Detail]] = []
    if "User" in wanted:
        details += [
            Entry(f"1:{u.name_key}", Detail("UserDetailList", views.user_detail(u)))
            for u in principals.list_users(tx, account_id)
        ]
    if "Group" in wanted:
        details += [
            Entry(f"2:{g.name_key}", Detail("GroupDetailList", views.group_detail(g)))
            for g in principals.list_groups(tx, account_id)
        ]
    if "Role" in wanted:
        details += [
            Entry(f"3:{r.name_key}", Detail("RoleDetailList", views.role_detail(r)))
            for r in principals.list_roles(tx, account_id)
        ]
    owners = tuple(
        owner
        for owner, kind in ((account_id, "LocalManagedPolicy"), (AWS_ACCOUNT, "AWSManagedPolicy"))
        if kind in wanted
    )
    if owners:
        attachments = policy_store.attachment_counts(tx, account_id)
        boundaries = policy_store.boundary_counts(tx, account_id)
        for policy in policy_store.list_policies(tx, owners):
            used = (attachments.get(policy.id, 0), boundaries.get(policy.arn, 0))
            if policy.is_aws_managed and not any(used):
                continue
            detail = Detail("Policies", views.policy_detail(policy, *used))
            details.append(Entry(f"4:{policy.name_key}:{policy.account_id}", detail))
    return details
