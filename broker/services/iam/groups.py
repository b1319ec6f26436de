"""IAM groups and their members."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_unique_id
from broker.iam.names import name_key, validate_group_name, validate_path
from broker.services.iam._common import flush_or_conflict, flush_or_exists
from broker.services.iam.users import get_user, validate_path_prefix
from broker.store import models
from broker.store import repositories as repo


def create_group(session: Session, account_id: str, name: str, path: str | None, now: dt.datetime) -> models.Group:
    validate_group_name(name)
    path = validate_path(path or "/")
    message = f"Group with name {name} already exists."
    if repo.group_by_name(session, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", message)
    count = session.scalar(select(func.count()).where(models.Group.account_id == account_id)) or 0
    if count >= limits.GROUPS_PER_ACCOUNT:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for GroupsPerAccount: {limits.GROUPS_PER_ACCOUNT}")
    group = models.Group(
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        path=path,
        group_id=new_unique_id("AGPA"),
        arn=arns.group_arn(account_id, name, path),
        created_at=now,
    )
    session.add(group)
    flush_or_exists(session, message)
    return group


def find_group(session: Session, account_id: str, name: str) -> models.Group | None:
    return repo.group_by_name(session, account_id, name_key(name))


def get_group(session: Session, account_id: str, name: str) -> models.Group:
    group = find_group(session, account_id, name)
    if group is None:
        raise AwsError("NoSuchEntity", f"The group with name {name} cannot be found.")
    return group


def list_groups(session: Session, account_id: str, path_prefix: str | None) -> list[models.Group]:
    return repo.list_groups(session, account_id, validate_path_prefix(path_prefix))


def update_group(
    session: Session, account_id: str, name: str, new_path: str | None, new_name: str | None
) -> models.Group:
    group = get_group(session, account_id, name)
    path = validate_path(new_path) if new_path is not None else group.path
    if new_name is not None:
        validate_group_name(new_name, "newGroupName")
        other = repo.group_by_name(session, account_id, name_key(new_name))
        if other is not None and other.id != group.id:
            raise AwsError("EntityAlreadyExists", f"Group with name {new_name} already exists.")
        group.name = new_name
        group.name_key = name_key(new_name)
    group.path = path
    group.arn = arns.group_arn(account_id, group.name, path)
    flush_or_exists(session, f"Group with name {group.name} already exists.")
    return group


def delete_group(session: Session, account_id: str, name: str) -> None:
    group = get_group(session, account_id, name)
    if group.members:
        raise AwsError("DeleteConflict", "Cannot delete entity, must remove users from group first.")
    if group.inline_policies:
        raise AwsError("DeleteConflict", "Cannot delete entity, must delete policies first.")
    if group.attached_policies:
        raise AwsError("DeleteConflict", "Cannot delete entity, must detach all policies first.")
    session.delete(group)
    session.flush()


def add_user_to_group(session: Session, account_id: str, group_name: str, user_name: str) -> None:
    group = get_group(session, account_id, group_name)
    user = get_user(session, account_id, user_name)
    if any(g.id == group.id for g in user.groups):
        return  # adding a member twice changes nothing, as in AWS
    if len(user.groups) >= limits.GROUPS_PER_USER:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for GroupsPerUser: {limits.GROUPS_PER_USER}")
    user.groups.append(group)
    flush_or_conflict(session)


def remove_user_from_group(session: Session, account_id: str, group_name: str, user_name: str) -> None:
    group = get_group(session, account_id, group_name)
    user = get_user(session, account_id, user_name)
    for member_of in user.groups:
        if member_of.id == group.id:
            user.groups.remove(member_of)
            session.flush()
            return
    raise AwsError("NoSuchEntity", f"User {user.name} is not in group {group.name}.")
