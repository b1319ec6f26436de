"""IAM groups and their members."""

from __future__ import annotations

import datetime as dt
from typing import Any

from broker.iam import limits
from broker.iam.entities import Group
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.services.iam._common import QuotaOwner, check_quota, validate_path_prefix, written_or_conflict
from broker.services.iam._kinds import GROUP
from broker.services.iam.paging import Entry
from broker.services.iam.users import get_user
from broker.services.iam.views import group_view, user_view
from broker.store import Tx
from broker.store.iam import named


def create_group(tx: Tx, account_id: str, name: str, path: str | None, now: dt.datetime) -> Group:
    return GROUP.create(tx, account_id, name, GROUP.validated(name, path), create_date=now)


def find_group(tx: Tx, account_id: str, name: str) -> Group | None:
    return GROUP.find(tx, account_id, name)


def get_group(tx: Tx, account_id: str, name: str) -> Group:
    return GROUP.get(tx, account_id, name)


def list_groups(tx: Tx, account_id: str, path_prefix: str | None) -> list[Entry[dict[str, Any]]]:
    found = named.GROUPS.listing(tx, (account_id,), validate_path_prefix(path_prefix))
    return [Entry(name_key(group.name), group_view(group)) for group in found]


def group_members(tx: Tx, account_id: str, name: str) -> list[Entry[dict[str, Any]]]:
    """GetGroup's ``Users``."""
    members = named.members_of_group(tx, get_group(tx, account_id, name).group_id)
    return [Entry(name_key(user.name), user_view(user, listing=True)) for user in members]


def groups_of_user(tx: Tx, account_id: str, user_name: str) -> list[Entry[dict[str, Any]]]:
    """ListGroupsForUser."""
    groups = named.groups_of_user(tx, get_user(tx, account_id, user_name).user_id)
    return [Entry(name_key(group.name), group_view(group)) for group in groups]


def update_group(tx: Tx, account_id: str, name: str, new_path: str | None, new_name: str | None) -> Group:
    return GROUP.rename(tx, account_id, name, new_path, new_name)


def delete_group(tx: Tx, account_id: str, name: str) -> None:
    GROUP.delete(tx, account_id, name, named.group_dependents)


def add_user_to_group(tx: Tx, account_id: str, group_name: str, user_name: str) -> None:
    group = get_group(tx, account_id, group_name)
    user = get_user(tx, account_id, user_name)
    if any(g.group_id == group.group_id for g in named.groups_of_user(tx, user.user_id)):
        return  # adding a member twice changes nothing, as in AWS
    check_quota(
        tx,
        QuotaOwner("User", user.user_id, user.name),
        lambda: len(named.groups_of_user(tx, user.user_id)),
        "GroupsPerUser",
        limits.GROUPS_PER_USER,
    )
    written_or_conflict(named.add_member(tx, group.group_id, user.user_id))


def remove_user_from_group(tx: Tx, account_id: str, group_name: str, user_name: str) -> None:
    group = get_group(tx, account_id, group_name)
    user = get_user(tx, account_id, user_name)
    if any(g.group_id == group.group_id for g in named.groups_of_user(tx, user.user_id)):
        named.remove_member(tx, group.group_id, user.user_id)
        return
    raise AwsError("NoSuchEntity", f"User {user.name} is not in group {group.name}.")
