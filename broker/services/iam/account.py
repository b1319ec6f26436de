"""The account as IAM sees it: its alias, and the snapshot GetAccountAuthorizationDetails gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, name_key, validate_account_alias, validation_error
from broker.services.iam import instance_profiles, views
from broker.services.iam._common import written_or_conflict
from broker.services.iam.paging import Entry
from broker.services.iam.policies import AWS_ACCOUNT
from broker.store import Tx
from broker.store.iam import accounts
from broker.store.iam import details as details_store
from broker.store.iam import policies as policy_store

DETAIL_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")


def create_account_alias(tx: Tx, account_id: str, alias: str) -> None:
    """An account has at most one alias; creating another replaces it (as the console's "Edit")."""
    validate_account_alias(alias)
    owner = accounts.account_by_alias(tx, alias)
    exists = f"The account alias {alias} already exists."
    if owner is not None and owner.id != account_id:
        raise AwsError("EntityAlreadyExists", exists)
    accounts.ensure_account(tx, account_id)
    written_or_conflict(accounts.set_account_alias(tx, account_id, alias), "EntityAlreadyExists", exists)


def delete_account_alias(tx: Tx, account_id: str, alias: str) -> None:
    validate_account_alias(alias)
    account = accounts.ensure_account(tx, account_id)
    if account.alias != alias:
        raise AwsError("NoSuchEntity", f"The account alias {alias} cannot be found.")
    accounts.set_account_alias(tx, account_id, None)


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
            Entry(f"1:{name_key(u.name)}", Detail("UserDetailList", views.user_detail(u, owned)))
            for u, owned in details_store.users_in(tx, account_id)
        ]
    if "Group" in wanted:
        details += [
            Entry(f"2:{name_key(g.name)}", Detail("GroupDetailList", views.group_detail(g, owned)))
            for g, owned in details_store.groups_in(tx, account_id)
        ]
    if "Role" in wanted:
        profiles = instance_profiles.profiles_by_role(tx, account_id)
        details += [
            Entry(
                f"3:{name_key(r.name)}",
                Detail("RoleDetailList", views.role_detail(r, owned, profiles.get(r.role_id, []))),
            )
            for r, owned in details_store.roles_in(tx, account_id)
        ]
    owners = tuple(
        owner
        for owner, kind in ((account_id, "LocalManagedPolicy"), (AWS_ACCOUNT, "AWSManagedPolicy"))
        if kind in wanted
    )
    if owners:
        attachments = policy_store.attachment_counts(tx, account_id)
        boundaries = policy_store.boundary_counts(tx, account_id)
        for policy, versions in details_store.policies_of(tx, owners):
            used = (attachments.get(policy.arn, 0), boundaries.get(policy.arn, 0))
            if policy.is_aws_managed and not any(used):
                continue
            detail = Detail("Policies", views.policy_detail(policy, versions, *used))
            details.append(Entry(f"4:{name_key(policy.name)}:{policy.account_id}", detail))
    return details
