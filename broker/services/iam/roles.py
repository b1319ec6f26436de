"""IAM roles: trust policies, session limits, boundaries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_unique_id
from broker.iam.names import (
    name_key,
    validate_max_session_duration,
    validate_path,
    validate_role_description,
    validate_role_name,
    validate_tags,
)
from broker.policy import PolicyKind
from broker.services.iam._common import flush_or_exists, prepared_document
from broker.services.iam.policies import boundary_policy
from broker.services.iam.users import validate_path_prefix
from broker.store import models
from broker.store import repositories as repo


def create_role(
    session: Session,
    account_id: str,
    *,
    name: str,
    trust_policy: str,
    path: str | None,
    description: str | None,
    max_session_duration: int | None,
    permissions_boundary: str | None,
    tags: list[tuple[str, str]] | None,
    now: dt.datetime,
) -> models.Role:
    validate_role_name(name)
    path = validate_path(path or "/")
    description = validate_role_description(description or "")
    duration = validate_max_session_duration(
        max_session_duration if max_session_duration is not None else limits.MAX_SESSION_DURATION_DEFAULT
    )
    trust_policy = prepared_document(trust_policy, PolicyKind.TRUST, "AssumeRolePolicyDocument")
    tag_map = validate_tags(tags or [])
    if permissions_boundary is not None:
        permissions_boundary = boundary_policy(session, account_id, permissions_boundary).arn
    message = f"Role with name {name} already exists."
    if repo.role_by_name(session, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", message)
    count = session.scalar(select(func.count()).where(models.Role.account_id == account_id)) or 0
    if count >= limits.ROLES_PER_ACCOUNT:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for RolesPerAccount: {limits.ROLES_PER_ACCOUNT}")
    role = models.Role(
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        path=path,
        role_id=new_unique_id("AROA"),
        arn=arns.role_arn(account_id, name, path),
        trust_policy=trust_policy,
        description=description,
        max_session_duration=duration,
        permissions_boundary_arn=permissions_boundary,
        created_at=now,
        tags=tag_map,
    )
    session.add(role)
    flush_or_exists(session, message)
    return role


def find_role(session: Session, account_id: str, name: str) -> models.Role | None:
    return repo.role_by_name(session, account_id, name_key(name))


def get_role(session: Session, account_id: str, name: str) -> models.Role:
    validate_role_name(name)
    role = find_role(session, account_id, name)
    if role is None:
        raise AwsError("NoSuchEntity", f"The role with name {name} cannot be found.")
    return role


def list_roles(session: Session, account_id: str, path_prefix: str | None) -> list[models.Role]:
    return repo.list_roles(session, account_id, validate_path_prefix(path_prefix))


def update_assume_role_policy(session: Session, account_id: str, name: str, document: str) -> models.Role:
    role = get_role(session, account_id, name)
    role.trust_policy = prepared_document(document, PolicyKind.TRUST, "AssumeRolePolicyDocument")
    return role


def update_role(
    session: Session, account_id: str, name: str, description: str | None, max_session_duration: int | None
) -> models.Role:
    role = get_role(session, account_id, name)
    if description is not None:
        role.description = validate_role_description(description)
    if max_session_duration is not None:
        role.max_session_duration = validate_max_session_duration(max_session_duration)
    return role


def delete_role(session: Session, account_id: str, name: str) -> None:
    role = get_role(session, account_id, name)
    if role.inline_policies:
        raise AwsError("DeleteConflict", "Cannot delete entity, must delete policies first.")
    if role.attached_policies:
        raise AwsError("DeleteConflict", "Cannot delete entity, must detach all policies first.")
    session.delete(role)
    session.flush()


def put_role_permissions_boundary(session: Session, account_id: str, name: str, policy_arn: str) -> None:
    role = get_role(session, account_id, name)
    role.permissions_boundary_arn = boundary_policy(session, account_id, policy_arn).arn


def delete_role_permissions_boundary(session: Session, account_id: str, name: str) -> None:
    role = get_role(session, account_id, name)
    role.permissions_boundary_arn = None
