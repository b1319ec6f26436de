"""What the IAM handlers share: resource ARNs to authorize on, condition keys, paging, parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from broker.iam import arn as arns
from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, name_key, validation_error
from broker.services.api.call import Call
from broker.services.auth import caller_model
from broker.services.iam.paging import paginate
from broker.store import models
from broker.store import repositories as repo

T = TypeVar("T")

_BUILDERS: dict[str, Callable[[str, str, str], str]] = {
    "user": arns.user_arn,
    "group": arns.group_arn,
    "role": arns.role_arn,
    "policy": arns.policy_arn,
}


def entity_arn(kind: str, account_id: str, name: str, path: str | None = "/") -> str:
    """The ARN an action on ``kind/NAME`` is authorized on, even when the name or path is invalid."""
    try:
        return _BUILDERS[kind](account_id, name, path or "/")
    except (arns.InvalidArn, AwsError):
        return f"arn:aws:iam::{account_id}:{kind}{path or '/'}{name}"


def list_resource(call: Call, kind: str, path_prefix: str | None) -> str:
    """``iam:ListUsers`` and friends are authorized on ``arn:aws:iam::ACCOUNT:user/`` (+ path prefix)."""
    prefix = (path_prefix or "/").lstrip("/")
    return f"arn:aws:iam::{call.account_id}:{kind}/{prefix}"


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


def authorize_on_user(call: Call, action: str, name: str, extra: Mapping[str, Any] | None = None) -> models.User | None:
    """Authorize ``action`` on the user (existing or not); return it if it exists."""
    user = repo.user_by_name(call.session, call.account_id, name_key(name))
    context: dict[str, Any] = {}
    if user is not None:
        context.update(resource_tags(user.tags))
        context.update(boundary_context(user.permissions_boundary_arn))
    context.update(extra or {})
    call.authorize(action, user.arn if user else entity_arn("user", call.account_id, name), context)
    return user


def authorize_on_group(call: Call, action: str, name: str, extra: Mapping[str, Any] | None = None) -> None:
    group = repo.group_by_name(call.session, call.account_id, name_key(name))
    call.authorize(action, group.arn if group else entity_arn("group", call.account_id, name), dict(extra or {}))


def authorize_on_role(call: Call, action: str, name: str, extra: Mapping[str, Any] | None = None) -> None:
    role = repo.role_by_name(call.session, call.account_id, name_key(name))
    context: dict[str, Any] = {}
    if role is not None:
        context.update(resource_tags(role.tags))
        context.update(boundary_context(role.permissions_boundary_arn))
    context.update(extra or {})
    call.authorize(action, role.arn if role else entity_arn("role", call.account_id, name), context)


def target_user_name(call: Call) -> str:
    """``UserName``, or when omitted the calling IAM user (AWS: only with user credentials)."""
    name = call.params.get("UserName")
    if name:
        return name
    if call.caller.is_role_session:
        raise AwsError("ValidationError", "Must specify userName when calling with non-User credentials")
    user = caller_model(call.session, call.caller)
    if user is None:
        raise AwsError("NoSuchEntity", f"The user with name {call.caller.iam_user_name} cannot be found.")
    return user.name


def boolean(call: Call, name: str) -> bool:
    value = call.params.get(name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        field = name[:1].lower() + name[1:]
        raise validation_error([constraint_violation(value, field, "must be a boolean (true or false)")])
    return lowered == "true"


def page(
    call: Call,
    items: Sequence[T],
    key: Callable[[T], str],
    list_name: str,
    render: Callable[[T], Any],
) -> dict[str, Any]:
    """One page of ``items`` as ``{list_name: [...], IsTruncated, Marker}``."""
    result = paginate(items, key, call.params.get("Marker"), call.params.integer("MaxItems"))
    return result.result(list_name, [render(item) for item in result.items])


def tag_page(call: Call, tags: Mapping[str, str] | None) -> dict[str, Any]:
    entries = list((tags or {}).items())
    indexed = list(enumerate(entries))
    return page(
        call, indexed, lambda item: f"{item[0]:04d}", "Tags", lambda item: {"Key": item[1][0], "Value": item[1][1]}
    )


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
