"""IAM roles: trust policies, session limits, boundaries."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from broker.iam import limits
from broker.iam.entities import Role
from broker.iam.errors import AwsError
from broker.iam.names import (
    name_key,
    validate_max_session_duration,
    validate_role_description,
    validate_role_name,
    validate_tags,
)
from broker.iam.service_linked import SERVICE_ROLE_PATH, is_service_linked, unmodifiable
from broker.policy import PolicyKind
from broker.services.iam._common import prepared_document, validate_path_prefix
from broker.services.iam._kinds import ROLE
from broker.services.iam.paging import Entry
from broker.services.iam.policies import boundary_policy
from broker.services.iam.views import role_view
from broker.services.trust import rebind_principal, refuse_deleted_principals
from broker.store import Tx
from broker.store.iam import instance_profiles, named


def create_role(
    tx: Tx,
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
    service_linked: bool = False,
) -> Role:
    """``service_linked``: CreateServiceLinkedRole's role, the only kind allowed under /aws-service-role/."""
    path = ROLE.validated(name, path)
    if is_service_linked(path) and not service_linked:
        raise AwsError("InvalidInput", f"The path {SERVICE_ROLE_PATH} is reserved for service-linked roles.")
    description = validate_role_description(description or "")
    duration = validate_max_session_duration(
        max_session_duration if max_session_duration is not None else limits.MAX_SESSION_DURATION_DEFAULT
    )
    trust_policy = prepared_document(trust_policy, PolicyKind.TRUST, "AssumeRolePolicyDocument")
    refuse_deleted_principals(trust_policy)
    tag_map = validate_tags(tags or [])
    if permissions_boundary is not None:
        permissions_boundary = boundary_policy(tx, account_id, permissions_boundary).arn
    return ROLE.create(
        tx,
        account_id,
        name,
        path,
        trust_policy=trust_policy,
        description=description,
        max_session_duration=duration,
        permissions_boundary_arn=permissions_boundary,
        create_date=now,
        tags=tag_map,
    )


def find_role(tx: Tx, account_id: str, name: str) -> Role | None:
    return ROLE.find(tx, account_id, name)


def get_role(tx: Tx, account_id: str, name: str) -> Role:
    validate_role_name(name)
    return ROLE.get(tx, account_id, name)


def list_roles(tx: Tx, account_id: str, path_prefix: str | None) -> list[Entry[dict[str, Any]]]:
    found = named.ROLES.listing(tx, (account_id,), validate_path_prefix(path_prefix))
    return [Entry(name_key(role.name), role_view(role, listing=True)) for role in found]


def modifiable_role(tx: Tx, account_id: str, name: str) -> Role:
    """The role, unless it is service-linked: only its service changes those (AWS's UnmodifiableEntity)."""
    role = get_role(tx, account_id, name)
    if is_service_linked(role.path):
        raise unmodifiable(role.name)
    return role


def update_assume_role_policy(tx: Tx, account_id: str, name: str, document: str) -> Role:
    role = modifiable_role(tx, account_id, name)
    trust_policy = prepared_document(document, PolicyKind.TRUST, "AssumeRolePolicyDocument")
    refuse_deleted_principals(trust_policy)
    named.update_role(tx, role.role_id, trust_policy=trust_policy)
    return dataclasses.replace(role, trust_policy=trust_policy)


def update_role(tx: Tx, account_id: str, name: str, description: str | None, max_session_duration: int | None) -> Role:
    # A service-linked role's description may change (as in AWS); nothing else of it.
    role = get_role(tx, account_id, name) if max_session_duration is None else modifiable_role(tx, account_id, name)
    if description is not None:
        role = dataclasses.replace(role, description=validate_role_description(description))
    if max_session_duration is not None:
        role = dataclasses.replace(role, max_session_duration=validate_max_session_duration(max_session_duration))
    named.update_role(
        tx,
        role.role_id,
        description=role.description if description is not None else None,
        max_session_duration=role.max_session_duration if max_session_duration is not None else None,
    )
    return role


def delete_role(tx: Tx, account_id: str, name: str) -> None:
    """Delete the role; other roles' trust policies naming its ARN then name its unique id, which a
    new role of the same name does not have (AWS does the same)."""
    role = modifiable_role(tx, account_id, name)
    if instance_profiles.for_role(tx, role.role_id):
        # AWS refuses while the role is in an instance profile (and the database would too).
        raise AwsError("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
    ROLE.delete(tx, account_id, name, named.role_dependents)
    rebind_principal(tx, role.arn, role.role_id)
