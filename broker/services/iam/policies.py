"""Managed policies: customer managed ones with versions, the AWS-managed ones the broker ships,
attachments to users, groups and roles, and their use as permissions boundaries."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_unique_id
from broker.iam.names import (
    constraint_violation,
    name_key,
    validate_policy_name,
    validate_policy_path,
    validate_tags,
    validation_error,
)
from broker.policy import PolicyKind
from broker.services.iam._common import flush_or_conflict, flush_or_exists, prepared_document
from broker.store import models
from broker.store import repositories as repo

AWS_ACCOUNT = arns.AWS_ACCOUNT
_VERSION_ID = re.compile(r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?")
_SCOPES = ("All", "AWS", "Local")
_USAGES = ("PermissionsPolicy", "PermissionsBoundary")
_ENTITY_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")

Attachable = models.User | models.Group | models.Role


def _enum(value: str | None, field: str, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise validation_error(
            [constraint_violation(value, field, f"must satisfy enum value set: [{', '.join(allowed)}]")]
        )
    return value


def validate_policy_arn(policy_arn: str | None, field: str = "policyArn") -> str:
    if policy_arn is None:
        raise validation_error([constraint_violation(None, field, "must not be null")])
    if not limits.ARN_MIN <= len(policy_arn) <= limits.ARN_MAX:
        raise validation_error(
            [constraint_violation(policy_arn, field, f"must have length between {limits.ARN_MIN} and {limits.ARN_MAX}")]
        )
    try:
        arns.parse_policy_arn(policy_arn)
    except arns.InvalidArn:
        raise AwsError("InvalidInput", f"ARN {policy_arn} is not valid.") from None
    return policy_arn


def validate_version_id(version_id: str | None) -> str:
    if version_id is None:
        raise validation_error([constraint_violation(None, "versionId", "must not be null")])
    if not _VERSION_ID.fullmatch(version_id):
        raise validation_error(
            [
                constraint_violation(
                    version_id, "versionId", r"must satisfy regular expression pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?"
                )
            ]
        )
    return version_id


def find_policy(session: Session, account_id: str, policy_arn: str) -> models.ManagedPolicy | None:
    """The policy if the account can see it: its own, or an AWS-managed one."""
    owner = arns.parse_policy_arn(validate_policy_arn(policy_arn))[0]
    if owner not in (account_id, AWS_ACCOUNT):
        return None
    return repo.policy_by_arn(session, policy_arn)


def get_policy(session: Session, account_id: str, policy_arn: str) -> models.ManagedPolicy:
    policy = find_policy(session, account_id, policy_arn)
    if policy is None:
        raise AwsError("NoSuchEntity", f"Policy {policy_arn} was not found.")
    return policy


def attachable_policy(session: Session, account_id: str, policy_arn: str) -> models.ManagedPolicy:
    policy = find_policy(session, account_id, policy_arn)
    if policy is None:
        raise AwsError("NoSuchEntity", f"Policy {policy_arn} does not exist or is not attachable.")
    return policy


def modifiable_policy(session: Session, account_id: str, policy_arn: str) -> models.ManagedPolicy:
    policy = get_policy(session, account_id, policy_arn)
    if policy.is_aws_managed:
        # AWS-managed policies belong to AWS, not to the account: nobody in it may change them.
        raise AwsError("AccessDenied", f"Policy {policy_arn} is an AWS managed policy and cannot be modified.")
    return policy


def validate_description(description: str | None) -> str:
    description = description or ""
    if len(description) > 1000:
        raise validation_error(
            [constraint_violation(description, "description", "must have length less than or equal to 1000")]
        )
    return description


def create_policy(
    session: Session,
    account_id: str,
    *,
    name: str,
    path: str | None,
    document: str,
    description: str | None,
    tags: list[tuple[str, str]] | None,
    now: dt.datetime,
) -> models.ManagedPolicy:
    validate_policy_name(name)
    path = validate_policy_path(path or "/")
    description = validate_description(description)
    tag_map = validate_tags(tags or [])
    document = prepared_document(document, PolicyKind.MANAGED, name)
    message = f"A policy called {name} already exists. Duplicate names are not allowed."
    if repo.policy_by_name(session, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", message)
    owned = session.scalar(select(func.count()).where(models.ManagedPolicy.account_id == account_id)) or 0
    if owned >= limits.CUSTOMER_MANAGED_POLICIES_PER_ACCOUNT:
        raise AwsError(
            "LimitExceeded",
            f"Cannot exceed quota for PoliciesPerAccount: {limits.CUSTOMER_MANAGED_POLICIES_PER_ACCOUNT}",
        )
    policy = models.ManagedPolicy(
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        path=path,
        policy_id=new_unique_id("ANPA"),
        arn=arns.policy_arn(account_id, name, path),
        description=description,
        default_version_id="v1",
        last_version_number=1,
        created_at=now,
        updated_at=now,
        tags=tag_map,
    )
    policy.versions.append(models.PolicyVersion(version_id="v1", number=1, document=document, created_at=now))
    session.add(policy)
    flush_or_exists(session, message)
    return policy


def delete_policy(session: Session, account_id: str, policy_arn: str) -> None:
    policy = modifiable_policy(session, account_id, policy_arn)
    if repo.is_attached_anywhere(session, policy):
        raise AwsError("DeleteConflict", "Cannot delete a policy attached to entities.")
    if len(policy.versions) > 1:
        raise AwsError(
            "DeleteConflict",
            "This policy has more than one version. Before you delete a policy, you must delete the "
            "policy's versions. The default version is deleted with the policy.",
        )
    session.delete(policy)
    # A concurrent attachment makes the database refuse (the attachment tables do not cascade).
    flush_or_conflict(session, "DeleteConflict", "Cannot delete a policy attached to entities.")


@dataclass(frozen=True)
class ListedPolicy:
    policy: models.ManagedPolicy
    attachments: int
    boundaries: int


def usage_counts(session: Session, account_id: str, policy: models.ManagedPolicy) -> tuple[int, int]:
    attachments = repo.attachment_counts(session, account_id).get(policy.id, 0)
    boundaries = repo.boundary_counts(session, account_id).get(policy.arn, 0)
    return attachments, boundaries


def list_policies(
    session: Session,
    account_id: str,
    *,
    scope: str | None,
    only_attached: bool,
    path_prefix: str | None,
    usage_filter: str | None,
) -> list[ListedPolicy]:
    scope = _enum(scope, "scope", _SCOPES) or "All"
    usage_filter = _enum(usage_filter, "policyUsageFilter", _USAGES)
    prefix = validate_policy_path(path_prefix or "/", "pathPrefix")
    owners = {"All": (account_id, AWS_ACCOUNT), "AWS": (AWS_ACCOUNT,), "Local": (account_id,)}[scope]
    attachments = repo.attachment_counts(session, account_id)
    boundaries = repo.boundary_counts(session, account_id)
    listed: list[ListedPolicy] = []
    for policy in repo.list_policies(session, owners, prefix):
        item = ListedPolicy(policy, attachments.get(policy.id, 0), boundaries.get(policy.arn, 0))
        if only_attached:
            used = {
                None: item.attachments + item.boundaries,
                "PermissionsPolicy": item.attachments,
                "PermissionsBoundary": item.boundaries,
            }[usage_filter]
            if not used:
                continue
        listed.append(item)
    return listed


# --- versions -------------------------------------------------------------------------------


def create_policy_version(
    session: Session, account_id: str, policy_arn: str, document: str, set_as_default: bool, now: dt.datetime
) -> models.PolicyVersion:
    policy = modifiable_policy(session, account_id, policy_arn)
    document = prepared_document(document, PolicyKind.MANAGED, policy.name)
    if len(policy.versions) >= limits.POLICY_VERSIONS:
        raise AwsError(
            "LimitExceeded",
            f"A managed policy can have up to {limits.POLICY_VERSIONS} versions. Before you create a new "
            "version, you must delete an existing version.",
        )
    number = policy.last_version_number + 1
    version = models.PolicyVersion(version_id=f"v{number}", number=number, document=document, created_at=now)
    policy.versions.insert(0, version)
    policy.last_version_number = number
    policy.updated_at = now
    if set_as_default:
        policy.default_version_id = version.version_id
    flush_or_conflict(session)
    return version


def get_policy_version(
    session: Session, account_id: str, policy_arn: str, version_id: str
) -> tuple[models.ManagedPolicy, models.PolicyVersion]:
    validate_version_id(version_id)
    policy = get_policy(session, account_id, policy_arn)
    for version in policy.versions:
        if version.version_id == version_id:
            return policy, version
    raise AwsError("NoSuchEntity", f"Policy {policy_arn} version {version_id} does not exist or is not attachable.")


def delete_policy_version(session: Session, account_id: str, policy_arn: str, version_id: str) -> None:
    validate_version_id(version_id)
    modifiable_policy(session, account_id, policy_arn)
    policy, version = get_policy_version(session, account_id, policy_arn, version_id)
    if version.version_id == policy.default_version_id:
        raise AwsError("DeleteConflict", "Cannot delete the default version of a policy.")
    policy.versions.remove(version)
    session.flush()


def set_default_policy_version(session: Session, account_id: str, policy_arn: str, version_id: str) -> None:
    validate_version_id(version_id)
    modifiable_policy(session, account_id, policy_arn)
    policy, version = get_policy_version(session, account_id, policy_arn, version_id)
    policy.default_version_id = version.version_id


def version_sort_key(version: models.PolicyVersion) -> str:
    """Newest first, as IAM lists them."""
    return f"{10**9 - version.number:010d}"


# --- attachments ------------------------------------------------------------------------------

_KIND_LABELS = {models.User: "User", models.Group: "Group", models.Role: "Role"}


def attach_policy(session: Session, account_id: str, entity: Attachable, policy_arn: str) -> None:
    policy = attachable_policy(session, account_id, policy_arn)
    attached = entity.attached_policies
    if any(p.id == policy.id for p in attached):
        return  # attaching twice changes nothing, as in AWS
    if len(attached) >= limits.MANAGED_POLICIES_PER_ENTITY:
        label = _KIND_LABELS[type(entity)]
        raise AwsError(
            "LimitExceeded", f"Cannot exceed quota for PoliciesPer{label}: {limits.MANAGED_POLICIES_PER_ENTITY}"
        )
    attached.append(policy)
    flush_or_conflict(session)


def detach_policy(session: Session, account_id: str, entity: Attachable, policy_arn: str) -> None:
    validate_policy_arn(policy_arn)
    for policy in entity.attached_policies:
        if policy.arn == policy_arn:
            entity.attached_policies.remove(policy)
            session.flush()
            return
    raise AwsError("NoSuchEntity", f"Policy {policy_arn} was not found.")


def attached_policies(entity: Attachable, path_prefix: str | None) -> list[models.ManagedPolicy]:
    prefix = validate_policy_path(path_prefix or "/", "pathPrefix")
    return [p for p in entity.attached_policies if p.path.startswith(prefix)]


EntityKind = Literal["Group", "User", "Role"]


@dataclass(frozen=True)
class PolicyEntity:
    kind: EntityKind
    name: str
    unique_id: str
    path: str
    name_key: str

    @property
    def sort_key(self) -> str:
        # Groups, then users, then roles, each by name: one order across the three lists.
        return f"{'GUR'.index(self.kind[0])}:{self.name_key}"


def entities_for_policy(
    session: Session,
    account_id: str,
    policy_arn: str,
    *,
    entity_filter: str | None,
    path_prefix: str | None,
    usage_filter: str | None,
) -> list[PolicyEntity]:
    entity_filter = _enum(entity_filter, "entityFilter", _ENTITY_FILTERS)
    usage_filter = _enum(usage_filter, "policyUsageFilter", _USAGES)
    prefix = path_prefix or "/"
    policy = get_policy(session, account_id, policy_arn)
    found: dict[tuple[str, str], PolicyEntity] = {}
    if usage_filter in (None, "PermissionsPolicy"):
        users, groups, roles = repo.entities_attached_to(session, policy, account_id)
        for group in groups:
            found[("Group", group.name_key)] = PolicyEntity(
                "Group", group.name, group.group_id, group.path, group.name_key
            )
        for user in users:
            found[("User", user.name_key)] = PolicyEntity("User", user.name, user.user_id, user.path, user.name_key)
        for role in roles:
            found[("Role", role.name_key)] = PolicyEntity("Role", role.name, role.role_id, role.path, role.name_key)
    if usage_filter in (None, "PermissionsBoundary"):
        bounded_users, bounded_roles = repo.entities_bounded_by(session, policy.arn, account_id)
        for user in bounded_users:
            found[("User", user.name_key)] = PolicyEntity("User", user.name, user.user_id, user.path, user.name_key)
        for role in bounded_roles:
            found[("Role", role.name_key)] = PolicyEntity("Role", role.name, role.role_id, role.path, role.name_key)
    wanted = (
        {"User", "Role", "Group"}
        if entity_filter in (None, "LocalManagedPolicy", "AWSManagedPolicy")
        else {entity_filter}
    )
    return [e for e in found.values() if e.kind in wanted and e.path.startswith(prefix)]


# --- permissions boundaries ---------------------------------------------------------------------


def boundary_policy(session: Session, account_id: str, policy_arn: str) -> models.ManagedPolicy:
    """A managed policy that can serve as a permissions boundary (it must exist)."""
    return attachable_policy(session, account_id, validate_policy_arn(policy_arn, "permissionsBoundary"))
