"""Managed policies: customer managed ones with versions, the AWS-managed ones the broker ships,
attachments to users, groups and roles, and their use as permissions boundaries."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.entities import Group, ManagedPolicy, PolicyVersion, Role, User
from broker.iam.errors import AwsError
from broker.iam.names import (
    constraint_violation,
    length_violations,
    name_key,
    validate_policy_path,
    validate_tags,
    validation_error,
)
from broker.policy import PolicyKind
from broker.services.iam._common import CONCURRENT, QuotaOwner, check_quota, prepared_document, written_or_conflict
from broker.services.iam._kinds import POLICY, unique_id
from broker.services.iam.paging import Entry
from broker.services.iam.views import attached_view, policy_view, version_view
from broker.store import Tx
from broker.store.iam import named, owned
from broker.store.iam import policies as policy_store

AWS_ACCOUNT = arns.AWS_ACCOUNT
_VERSION_ID = re.compile(r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?")
_SCOPES = ("All", "AWS", "Local")
_USAGES = ("PermissionsPolicy", "PermissionsBoundary")
_ENTITY_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")

Attachable = User | Group | Role


def _enum(value: str | None, field: str, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise validation_error(
            [constraint_violation(value, field, f"must satisfy enum value set: [{', '.join(allowed)}]")]
        )
    return value


def validate_policy_arn(policy_arn: str | None, field: str = "policyArn") -> str:
    if policy_arn is None:
        raise validation_error([constraint_violation(None, field, "must not be null")])
    violations = length_violations(policy_arn, field, limits.ARN_MIN, limits.ARN_MAX)
    if violations:
        raise validation_error(violations)
    try:
        arns.parse_policy_arn(policy_arn)
    except arns.InvalidArn:
        raise AwsError("InvalidInput", f"ARN {policy_arn} is not valid.") from None
    return policy_arn


def validate_attached_policy_arn(policy_arn: str | None) -> str:
    """Attach/Detach{User,Group,Role}Policy's ``PolicyArn``: text that is no ARN at all gets AWS's
    ValidationError for these actions (two spaces and all); an ARN of the wrong kind, InvalidInput."""
    if policy_arn is not None and limits.ARN_MIN <= len(policy_arn) <= limits.ARN_MAX:
        try:
            arns.Arn.parse(policy_arn)
        except arns.InvalidArn:
            raise AwsError("ValidationError", "Invalid ARN:  Could not be parsed!") from None
    return validate_policy_arn(policy_arn)


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


def find_policy(tx: Tx, account_id: str, policy_arn: str) -> ManagedPolicy | None:
    """The policy if the account can see it: its own, or an AWS-managed one."""
    owner = arns.parse_policy_arn(validate_policy_arn(policy_arn))[0]
    if owner not in (account_id, AWS_ACCOUNT):
        return None
    return named.POLICIES.by_arn(tx, policy_arn)


def get_policy(tx: Tx, account_id: str, policy_arn: str) -> ManagedPolicy:
    policy = find_policy(tx, account_id, policy_arn)
    if policy is None:
        raise AwsError("NoSuchEntity", f"Policy {policy_arn} was not found.")
    return policy


def attachable_policy(tx: Tx, account_id: str, policy_arn: str) -> ManagedPolicy:
    policy = find_policy(tx, account_id, policy_arn)
    if policy is None:
        raise AwsError("NoSuchEntity", f"Policy {policy_arn} does not exist or is not attachable.")
    return policy


def modifiable_policy(tx: Tx, account_id: str, policy_arn: str) -> ManagedPolicy:
    policy = get_policy(tx, account_id, policy_arn)
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
    tx: Tx,
    account_id: str,
    *,
    name: str,
    path: str | None,
    document: str,
    description: str | None,
    tags: list[tuple[str, str]] | None,
    now: dt.datetime,
) -> ManagedPolicy:
    path = POLICY.validated(name, path)
    description = validate_description(description)
    tag_map = validate_tags(tags or [])
    document = prepared_document(document, PolicyKind.MANAGED, name)
    return POLICY.create(
        tx,
        account_id,
        name,
        path,
        lambda tx, fields: named.add_policy(tx, fields, document, now),
        description=description,
        tags=tag_map,
    )


def delete_policy(tx: Tx, account_id: str, policy_arn: str) -> None:
    policy = modifiable_policy(tx, account_id, policy_arn)
    if policy_store.is_attached_anywhere(tx, policy.policy_id, policy.arn):
        raise AwsError("DeleteConflict", "Cannot delete a policy attached to entities.")
    if len(policy_store.policy_versions(tx, policy.policy_id)) > 1:
        raise AwsError(
            "DeleteConflict",
            "This policy has more than one version. Before you delete a policy, you must delete the "
            "policy's versions. The default version is deleted with the policy.",
        )
    # A concurrent attachment makes the database refuse (the attachment tables do not cascade).
    deleted = named.POLICIES.delete(tx, policy.policy_id)
    written_or_conflict(deleted, "DeleteConflict", "Cannot delete a policy attached to entities.")


def usage_counts(tx: Tx, account_id: str, policy: ManagedPolicy) -> tuple[int, int]:
    attachments = policy_store.attachment_counts(tx, account_id).get(policy.arn, 0)
    boundaries = policy_store.boundary_counts(tx, account_id).get(policy.arn, 0)
    return attachments, boundaries


def policy_with_usage(tx: Tx, account_id: str, policy_arn: str) -> dict[str, Any]:
    """GetPolicy's ``Policy``: with how many entities use it."""
    policy = get_policy(tx, account_id, policy_arn)
    return policy_view(policy, *usage_counts(tx, account_id, policy))


def list_policies(
    tx: Tx,
    account_id: str,
    *,
    scope: str | None,
    only_attached: bool,
    path_prefix: str | None,
    usage_filter: str | None,
) -> list[Entry[dict[str, Any]]]:
    scope = _enum(scope, "scope", _SCOPES) or "All"
    usage_filter = _enum(usage_filter, "policyUsageFilter", _USAGES)
    prefix = validate_policy_path(path_prefix or "/", "pathPrefix")
    owners = {"All": (account_id, AWS_ACCOUNT), "AWS": (AWS_ACCOUNT,), "Local": (account_id,)}[scope]
    attachments = policy_store.attachment_counts(tx, account_id)
    boundaries = policy_store.boundary_counts(tx, account_id)
    listed: list[Entry[dict[str, Any]]] = []
    for policy in named.POLICIES.listing(tx, owners, prefix):
        attached, bounding = attachments.get(policy.arn, 0), boundaries.get(policy.arn, 0)
        if only_attached:
            used = {
                None: attached + bounding,
                "PermissionsPolicy": attached,
                "PermissionsBoundary": bounding,
            }[usage_filter]
            if not used:
                continue
        view = policy_view(policy, attached, bounding, listing=True)
        listed.append(Entry(f"{name_key(policy.name)}:{policy.account_id}", view))
    return listed


# --- versions -------------------------------------------------------------------------------


def create_policy_version(
    tx: Tx, account_id: str, policy_arn: str, document: str, set_as_default: bool, now: dt.datetime
) -> PolicyVersion:
    policy = modifiable_policy(tx, account_id, policy_arn)
    document = prepared_document(document, PolicyKind.MANAGED, policy.name)
    if len(policy_store.policy_versions(tx, policy.policy_id)) >= limits.POLICY_VERSIONS:
        raise AwsError(
            "LimitExceeded",
            f"A managed policy can have up to {limits.POLICY_VERSIONS} versions. Before you create a new "
            "version, you must delete an existing version.",
        )
    version = policy_store.add_policy_version(tx, policy.policy_id, document, set_as_default, now)
    if version is None:
        raise AwsError("ConcurrentModification", CONCURRENT)
    return version


def _versions(tx: Tx, account_id: str, policy_arn: str) -> list[PolicyVersion]:
    return policy_store.policy_versions(tx, get_policy(tx, account_id, policy_arn).policy_id)


def get_policy_version(tx: Tx, account_id: str, policy_arn: str, version_id: str) -> PolicyVersion:
    validate_version_id(version_id)
    for version in _versions(tx, account_id, policy_arn):
        if version.version_id == version_id:
            return version
    raise AwsError("NoSuchEntity", f"Policy {policy_arn} version {version_id} does not exist or is not attachable.")


def list_policy_versions(tx: Tx, account_id: str, policy_arn: str) -> list[Entry[dict[str, Any]]]:
    """Newest first, as IAM lists them."""
    versions = _versions(tx, account_id, policy_arn)
    return [Entry(f"{10**9 - v.number:010d}", version_view(v, document=False)) for v in versions]


def delete_policy_version(tx: Tx, account_id: str, policy_arn: str, version_id: str) -> None:
    policy, version = _changed_version(tx, account_id, policy_arn, version_id)
    if version.is_default:
        raise AwsError("DeleteConflict", "Cannot delete the default version of a policy.")
    policy_store.delete_policy_version(tx, policy.policy_id, version.version_id)


def set_default_policy_version(tx: Tx, account_id: str, policy_arn: str, version_id: str) -> None:
    policy, version = _changed_version(tx, account_id, policy_arn, version_id)
    policy_store.set_default_version(tx, policy.policy_id, version.version_id)


def _changed_version(tx: Tx, account_id: str, policy_arn: str, version_id: str) -> tuple[ManagedPolicy, PolicyVersion]:
    validate_version_id(version_id)
    policy = modifiable_policy(tx, account_id, policy_arn)
    return policy, get_policy_version(tx, account_id, policy_arn, version_id)


# --- attachments ------------------------------------------------------------------------------


def _owner_kind(entity: Attachable) -> owned.OwnerKind:
    return "User" if isinstance(entity, User) else "Group" if isinstance(entity, Group) else "Role"


def attach_policy(tx: Tx, account_id: str, entity: Attachable, policy_arn: str) -> None:
    policy = attachable_policy(tx, account_id, policy_arn)
    kind, handle = _owner_kind(entity), unique_id(entity)
    if any(p.policy_id == policy.policy_id for p in owned.attached_policies(tx, kind, handle)):
        return  # attaching twice changes nothing, as in AWS
    check_quota(
        tx,
        QuotaOwner(kind, handle, entity.name),
        lambda: len(owned.attached_policies(tx, kind, handle)),
        f"PoliciesPer{kind}",
        limits.MANAGED_POLICIES_PER_ENTITY,
    )
    written_or_conflict(owned.attach_policy(tx, kind, handle, policy.policy_id))


def detach_policy(tx: Tx, account_id: str, entity: Attachable, policy_arn: str) -> None:
    validate_attached_policy_arn(policy_arn)
    kind = _owner_kind(entity)
    for policy in owned.attached_policies(tx, kind, unique_id(entity)):
        if policy.arn == policy_arn:
            owned.detach_policy(tx, kind, unique_id(entity), policy.policy_id)
            return
    raise AwsError("NoSuchEntity", f"Policy {policy_arn} was not found.")


def attached_policies(tx: Tx, entity: Attachable, path_prefix: str | None) -> list[Entry[dict[str, str]]]:
    """ListAttached{User,Group,Role}Policies."""
    prefix = validate_policy_path(path_prefix or "/", "pathPrefix")
    return [
        Entry(f"{name_key(p.name)}:{p.account_id}", attached_view(p))
        for p in owned.attached_policies(tx, _owner_kind(entity), unique_id(entity))
        if p.path.startswith(prefix)
    ]


EntityKind = Literal["Group", "User", "Role"]


@dataclass(frozen=True)
class PolicyEntity:
    kind: EntityKind
    name: str
    unique_id: str
    path: str


def entities_for_policy(
    tx: Tx,
    account_id: str,
    policy_arn: str,
    *,
    entity_filter: str | None,
    path_prefix: str | None,
    usage_filter: str | None,
) -> list[Entry[PolicyEntity]]:
    """ListEntitiesForPolicy: groups, then users, then roles, each by name (one order across the three lists)."""
    entity_filter = _enum(entity_filter, "entityFilter", _ENTITY_FILTERS)
    usage_filter = _enum(usage_filter, "policyUsageFilter", _USAGES)
    prefix = path_prefix or "/"
    policy = get_policy(tx, account_id, policy_arn)
    found: dict[str, PolicyEntity] = {}

    def add(kind: EntityKind, entity: Attachable) -> None:
        key = f"{'GUR'.index(kind[0])}:{name_key(entity.name)}"
        found[key] = PolicyEntity(kind, entity.name, unique_id(entity), entity.path)

    if usage_filter in (None, "PermissionsPolicy"):
        users, groups, roles = policy_store.entities_attached_to(tx, policy.policy_id, account_id)
        for group in groups:
            add("Group", group)
        for user in users:
            add("User", user)
        for role in roles:
            add("Role", role)
    if usage_filter in (None, "PermissionsBoundary"):
        bounded_users, bounded_roles = policy_store.entities_bounded_by(tx, policy.arn, account_id)
        for user in bounded_users:
            add("User", user)
        for role in bounded_roles:
            add("Role", role)
    wanted = (
        {"User", "Role", "Group"}
        if entity_filter in (None, "LocalManagedPolicy", "AWSManagedPolicy")
        else {entity_filter}
    )
    return [Entry(key, e) for key, e in found.items() if e.kind in wanted and e.path.startswith(prefix)]


# --- permissions boundaries ---------------------------------------------------------------------


def boundary_policy(tx: Tx, account_id: str, policy_arn: str) -> ManagedPolicy:
    """A managed policy that can serve as a permissions boundary (it must exist)."""
    return attachable_policy(tx, account_id, validate_policy_arn(policy_arn, "permissionsBoundary"))
