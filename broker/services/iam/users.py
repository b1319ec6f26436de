"""IAM users."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_unique_id
from broker.iam.names import (
    constraint_violation,
    name_key,
    validate_path,
    validate_tags,
    validate_user_name,
    validation_error,
)
from broker.services.iam._common import flush_or_exists
from broker.services.iam.policies import boundary_policy
from broker.store import models
from broker.store import repositories as repo


def create_user(
    session: Session,
    account_id: str,
    name: str,
    path: str | None,
    now: dt.datetime,
    tags: list[tuple[str, str]] | None = None,
    permissions_boundary: str | None = None,
) -> models.User:
    validate_user_name(name)
    path = validate_path(path or "/")
    tag_map = validate_tags(tags or [])
    if permissions_boundary is not None:
        permissions_boundary = boundary_policy(session, account_id, permissions_boundary).arn
    message = f"User with name {name} already exists."
    if repo.user_by_name(session, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", message)
    count = session.scalar(select(func.count()).where(models.User.account_id == account_id)) or 0
    if count >= limits.USERS_PER_ACCOUNT:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for UsersPerAccount: {limits.USERS_PER_ACCOUNT}")
    user = models.User(
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        path=path,
        user_id=new_unique_id("AIDA"),
        arn=arns.user_arn(account_id, name, path),
        created_at=now,
        tags=tag_map,
        permissions_boundary_arn=permissions_boundary,
    )
    session.add(user)
    flush_or_exists(session, message)
    return user


def find_user(session: Session, account_id: str, name: str) -> models.User | None:
    return repo.user_by_name(session, account_id, name_key(name))


def get_user(session: Session, account_id: str, name: str) -> models.User:
    user = find_user(session, account_id, name)
    if user is None:
        raise AwsError("NoSuchEntity", f"The user with name {name} cannot be found.")
    return user


def list_users(session: Session, account_id: str, path_prefix: str | None) -> list[models.User]:
    return repo.list_users(session, account_id, validate_path_prefix(path_prefix))


def validate_path_prefix(path_prefix: str | None) -> str:
    """``pathPrefixType``: ``/`` followed by U+0021..U+007F (need not end in ``/``)."""
    prefix = path_prefix or "/"
    if len(prefix) > limits.PATH_MAX or not prefix.startswith("/") or any(not 0x21 <= ord(c) <= 0x7F for c in prefix):
        raise validation_error(
            [
                constraint_violation(
                    prefix, "pathPrefix", r"must satisfy regular expression pattern: \u002F[\u0021-\u007F]*"
                )
            ]
        )
    return prefix


def update_user(
    session: Session, account_id: str, name: str, new_path: str | None, new_name: str | None
) -> models.User:
    user = get_user(session, account_id, name)
    path = validate_path(new_path) if new_path is not None else user.path
    if new_name is not None:
        validate_user_name(new_name, "newUserName")
        other = repo.user_by_name(session, account_id, name_key(new_name))
        if other is not None and other.id != user.id:
            raise AwsError("EntityAlreadyExists", f"User with name {new_name} already exists.")
        user.name = new_name
        user.name_key = name_key(new_name)
    user.path = path
    user.arn = arns.user_arn(account_id, user.name, path)
    flush_or_exists(session, f"User with name {user.name} already exists.")
    return user


def delete_user(session: Session, account_id: str, name: str) -> None:
    user = get_user(session, account_id, name)
    # AWS refuses to delete a user that still has subordinate entities, naming the first kind.
    if user.access_keys:
        raise AwsError("DeleteConflict", "Cannot delete entity, must delete access keys first.")
    if repo.mfa_devices_of_user(session, user.id):
        raise AwsError("DeleteConflict", "Cannot delete entity, must delete MFA device first.")
    if user.inline_policies:
        raise AwsError("DeleteConflict", "Cannot delete entity, must delete policies first.")
    if user.attached_policies:
        raise AwsError("DeleteConflict", "Cannot delete entity, must detach all policies first.")
    if user.groups:
        raise AwsError("DeleteConflict", "Cannot delete entity, must remove user from all groups first.")
    session.delete(user)
    session.flush()


def put_user_permissions_boundary(session: Session, account_id: str, name: str, policy_arn: str) -> None:
    user = get_user(session, account_id, name)
    user.permissions_boundary_arn = boundary_policy(session, account_id, policy_arn).arn


def delete_user_permissions_boundary(session: Session, account_id: str, name: str) -> None:
    user = get_user(session, account_id, name)
    user.permissions_boundary_arn = None
