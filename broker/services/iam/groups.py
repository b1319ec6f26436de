"""IAM groups and their members."""

from __future__ import annotations

import datetime as dt
from typing import Any

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.services.iam._common import check_quota, save_or_conflict, validate_path_prefix
from broker.services.iam._kinds import GROUP
from broker.services.iam.paging import Entry
from broker.services.iam.users import get_user
from broker.services.iam.views import group_view, user_view
from broker.store import Tx, models
from broker.store.iam import principals, rows


def create_group(tx: Tx, account_id: str, name: str, path: str | None, now: dt.datetime) -> models.Group:
    return GROUP.create(tx, account_id, name, GROUP.validated(name, path), created_at=now)


def find_group(tx: Tx, account_id: str, name: str) -> models.Group | None:
    return GROUP.find(tx, account_id, name)


def get_group(tx: Tx, account_id: str, name: str) -> models.Group:
    return GROUP.get(tx, account_id, name)


def list_groups(tx: Tx, account_id: str, path_prefix: str | None) -> list[Entry[dict[str, Any]]]:
    found = principals.list_groups(tx, account_id, validate_path_prefix(path_prefix))
    return [Entry(group.name_key, group_view(group)) for group in found]


def group_members(tx: Tx, account_id: str, name: str) -> list[Entry[dict[str, Any]]]:
    """GetGroup's ``Users``."""
    return [Entry(user.name_key, user_view(user, listing=True)) for user in get_group(tx, account_id, name).members]


def groups_of_user(tx: Tx, account_id: str, user_name: str) -> list[Entry[dict[str, Any]]]:
    """ListGroupsForUser."""
    return [Entry(group.name_key, group_view(group)) for group in get_user(tx, account_id, user_name).groups]


def update_group(tx: Tx, account_id: str, name: str, new_path: str | None, new_name: str | None) -> models.Group:
    return GROUP.rename(tx, account_id, name, new_path, new_name)


def delete_group(tx: Tx, account_id: str, name: str) -> None:
    GROUP.delete(
        tx,
        account_id,
        name,
        lambda group: [
            (group.members, "remove users from group"),
            (group.inline_policies, "delete policies"),
            (group.attached_policies, "detach all policies"),
        ],
    )


def add_user_to_group(tx: Tx, account_id: str, group_name: str, user_name: str) -> None:
    group = get_group(tx, account_id, group_name)
    user = get_user(tx, account_id, user_name)
    if any(g.id == group.id for g in user.groups):
        return  # adding a member twice changes nothing, as in AWS
    check_quota(len(user.groups), "GroupsPerUser", limits.GROUPS_PER_USER)
    user.groups.append(group)
    save_or_conflict(tx)


def remove_user_from_group(tx: Tx, account_id: str, group_name: str, user_name: str) -> None:
    group = get_group(tx, account_id, group_name)
    user = get_user(tx, account_id, user_name)
    for member_of in user.groups:
        if member_of.id == group.id:
            user.groups.remove(member_of)
            rows.flush(tx)
            return
    raise AwsError("NoSuchEntity", f"User {user.name} is not in group {group.name}.")
