"""What the IAM handlers share: the entities actions name and authorization on them, condition
keys, the calling user, paging and parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.names import (
    StringRule,
    constraint_violation,
    length_violations,
    name_key,
    validate_existing_user_name,
    validate_group_name,
    validate_path,
    validate_role_name,
    validate_serial_number,
    validate_user_name,
    validation_error,
)
from broker.services.api.call import Call
from broker.services.api.params import Params
from broker.services.iam import users
from broker.services.iam.paging import Entry, paginate
from broker.services.iam.policies import validate_policy_arn
from broker.services.iam.resources import Resource, ResourceLabel, resource, resource_arn

T = TypeVar("T")


def resource_tags(tags: Mapping[str, str] | None) -> dict[str, Any]:
    """``aws:ResourceTag/*`` (and IAM's own ``iam:ResourceTag/*``) of the entity acted on."""
    context: dict[str, Any] = {}
    for key, value in (tags or {}).items():
        context[f"aws:ResourceTag/{key}"] = value
        context[f"iam:ResourceTag/{key}"] = value
    return context


def request_tags(tags: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``aws:RequestTag/*`` and ``aws:TagKeys`` of a call that passes tags."""
    if not tags:
        return {}
    context: dict[str, Any] = {}
    seen: set[str] = set()
    for key, value in tags:
        if name_key(key) in seen:
            continue  # the service rejects the duplicate after authorization
        seen.add(name_key(key))
        context[f"aws:RequestTag/{key}"] = value
    context["aws:TagKeys"] = [key for key, _ in tags]
    return context


def boundary_context(boundary_arn: str | None) -> dict[str, Any]:
    return {"iam:PermissionsBoundary": boundary_arn} if boundary_arn else {}


def authorize_on(
    call: Call, label: ResourceLabel, action: str, identifier: str, extra: Mapping[str, Any] | None = None
) -> Resource:
    """Authorize ``action`` on the entity ``identifier`` names (existing or not), its tags and
    permissions boundary as condition keys; return what authorization saw of it."""
    found = resource(call.tx, label, call.account_id, identifier)
    context = {**resource_tags(found.tags), **boundary_context(found.permissions_boundary), **(extra or {})}
    call.authorize(action, found.arn, context)
    if label == "Policy" and action in _CHANGES_POLICY and found.arn.startswith(_AWS_MANAGED):
        # An AWS-managed policy belongs to AWS's account: no policy of the caller's can let it change one.
        raise AwsError(
            "AccessDenied",
            f"User: {call.caller.arn} is not authorized to perform: {action} on resource: {found.arn} "
            f"because no resource-based policy allows the {action} action",
        )
    return found


_AWS_MANAGED = "arn:aws:iam::aws:policy/"
_CHANGES_POLICY = frozenset(
    {
        "iam:DeletePolicy",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:TagPolicy",
        "iam:UntagPolicy",
    }
)


@dataclass(frozen=True)
class Target:
    """How an action names the entity it acts on: the parameter, read and validated."""

    label: ResourceLabel
    read: Callable[[Params], str]
    # How a creating action reads the name, where the model bounds new names tighter (CreateUser).
    read_new: Callable[[Params], str] | None = None

    def authorized(self, call: Call, action: str, extra: Mapping[str, Any] | None = None) -> str:
        """The entity's identifier, once ``action`` on it is allowed."""
        identifier = self.read(call.params)
        authorize_on(call, self.label, action, identifier, extra)
        return identifier


USER = Target(
    "User",
    lambda params: validate_existing_user_name(params.required("UserName")),
    lambda params: validate_user_name(params.required("UserName")),
)
# The actions whose model bounds an existing user's name at 64 as CreateUser does (``userNameType``:
# permissions boundaries, managed-policy attachments, service-specific credentials); the others
# take up to 128 (``existingUserNameType``), and a longer name than any user has is just not found.
USER_64 = Target("User", lambda params: validate_user_name(params.required("UserName")))
GROUP = Target("Group", lambda params: validate_group_name(params.required("GroupName")))
ROLE = Target("Role", lambda params: validate_role_name(params.required("RoleName")))
POLICY = Target("Policy", lambda params: validate_policy_arn(params.required("PolicyArn")))
SAML_PROVIDER = Target("SAMLProvider", lambda params: arn_parameter(params, "SAMLProviderArn"))
MFA_DEVICE = Target("MFADevice", lambda params: validate_serial_number(params.get("SerialNumber")))


def arn_parameter(params: Params, name: str) -> str:
    """A required ARN parameter within the model's bounds (``arnType``: 20 to 2048 characters),
    refused as AWS's input validation refuses it before the ARN is read."""
    value = params.required(name)
    violations = length_violations(value, name[:1].lower() + name[1:], limits.ARN_MIN, limits.ARN_MAX)
    if violations:
        raise validation_error(violations)
    return value


def list_resource(call: Call, resource_type: str, path_prefix: str | None) -> str:
    """``iam:ListUsers`` and friends are authorized on ``arn:aws:iam::ACCOUNT:user/`` (+ path prefix)."""
    prefix = (path_prefix or "/").lstrip("/")
    return f"arn:aws:iam::{call.account_id}:{resource_type}/{prefix}"


@dataclass(frozen=True)
class NewPrincipal:
    name: str
    path: str | None
    permissions_boundary: str | None
    tags: list[tuple[str, str]]


def creation(call: Call, target: Target) -> NewPrincipal:
    """CreateUser, CreateRole: the new principal's parameters, once creating it is allowed (its
    tags and permissions boundary are condition keys)."""
    name = (target.read_new or target.read)(call.params)
    path = call.params.get("Path")
    boundary = call.params.get("PermissionsBoundary")
    tags = call.params.tags()
    context = {**request_tags(tags), **boundary_context(boundary)}
    call.authorize(
        f"iam:Create{target.label}", resource_arn(target.label.lower(), call.account_id, name, path), context
    )
    return NewPrincipal(name, path, boundary, tags)


def renaming(call: Call, target: Target) -> tuple[str, str | None, str | None]:
    """UpdateUser, UpdateGroup: the entity's name, new path and new name, once allowed on the
    entity as it is and (AWS asks both) as it will be."""
    label = target.label
    name = target.read(call.params)
    new_name = call.params.get(f"New{label}Name")
    new_path = call.params.get("NewPath")
    if new_path is not None:
        validate_path(new_path, "newPath")
    found = authorize_on(call, label, f"iam:Update{label}", name)
    if new_name is not None or new_path is not None:
        renamed = resource_arn(label.lower(), call.account_id, new_name or name, new_path or found.path)
        call.authorize(f"iam:Update{label}", renamed)
    return name, new_path, new_name


def target_user_name(call: Call) -> str:
    """``UserName``, or when omitted the calling IAM user (AWS: only with user credentials)."""
    name = call.params.get("UserName")
    if name:
        return name
    if call.caller.is_role_session:
        raise AwsError("ValidationError", "Must specify userName when calling with non-User credentials")
    found = users.user_name_of(call.tx, call.account_id, call.caller.user_id)
    if found is None:
        raise AwsError("NoSuchEntity", f"The user with name {call.caller.iam_user_name} cannot be found.")
    return found


def authorized_user(call: Call, action: str, validate: StringRule = validate_existing_user_name) -> str:
    """The user an access-key or MFA action names (or the caller), once ``action`` on it is allowed."""
    name = validate(target_user_name(call), "userName")
    authorize_on(call, "User", action, name)
    return name


def boolean(call: Call, name: str) -> bool:
    value = call.params.get(name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        field = name[:1].lower() + name[1:]
        raise validation_error([constraint_violation(value, field, "must be a boolean (true or false)")])
    return lowered == "true"


def page(call: Call, entries: Sequence[Entry[T]], list_name: str) -> dict[str, Any]:
    """One page of ``entries`` as ``{list_name: [...], IsTruncated, Marker}``."""
    result = paginate(entries, lambda entry: entry.sort_key, call.params.get("Marker"), call.params.integer("MaxItems"))
    return result.result(list_name, [entry.value for entry in result.items])


def required_tags(call: Call) -> list[tuple[str, str]]:
    tags = call.params.tags()
    if not tags:
        raise validation_error([constraint_violation(None, "tags", "must not be null")])
    return tags


def required_members(call: Call, name: str) -> list[str]:
    values = call.params.members(name)
    if not values:
        raise validation_error([constraint_violation(None, name[:1].lower() + name[1:], "must not be null")])
    return values
