"""Managed policies: lifecycle, versions, attachments, the entities using them, tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.iam.names import validate_group_name, validate_policy_name, validate_role_name, validate_user_name
from broker.services.api.call import Call
from broker.services.api.iam.support import (
    authorize_on_group,
    authorize_on_role,
    authorize_on_user,
    boolean,
    entity_arn,
    page,
    request_tags,
    required_members,
    required_tags,
    resource_tags,
    tag_page,
)
from broker.services.api.registry import action
from broker.services.iam import groups, policies, roles, users
from broker.services.iam._common import merged_tags, without_tags
from broker.services.iam.views import attached_view, policy_view, version_view
from broker.store import models


def _policy_arn(call: Call) -> str:
    return policies.validate_policy_arn(call.params.required("PolicyArn"))


def _authorize_on_policy(call: Call, action_name: str, policy_arn: str, extra: dict[str, Any] | None = None) -> None:
    existing = policies.find_policy(call.session, call.account_id, policy_arn)
    context = resource_tags(existing.tags) if existing is not None else {}
    context.update(extra or {})
    call.authorize(action_name, policy_arn, context)


@action("CreatePolicy", "iam")
def create_policy(call: Call) -> dict[str, Any]:
    name = validate_policy_name(call.params.required("PolicyName"))
    path = call.params.get("Path")
    tags = call.params.tags()
    call.authorize("iam:CreatePolicy", entity_arn("policy", call.account_id, name, path), request_tags(tags))
    policy = policies.create_policy(
        call.session,
        call.account_id,
        name=name,
        path=path,
        document=call.params.required("PolicyDocument"),
        description=call.params.get("Description"),
        tags=tags,
        now=call.runtime.now(),
    )
    view = policy_view(policy, 0, 0)
    view.pop("Description", None)  # AWS's CreatePolicy result leaves it out
    return {"Policy": view}


@action("GetPolicy", "iam", read_only=True)
def get_policy(call: Call) -> dict[str, Any]:
    policy_arn = _policy_arn(call)
    _authorize_on_policy(call, "iam:GetPolicy", policy_arn)
    policy = policies.get_policy(call.session, call.account_id, policy_arn)
    return {"Policy": policy_view(policy, *policies.usage_counts(call.session, call.account_id, policy))}


@action("ListPolicies", "iam", read_only=True)
def list_policies(call: Call) -> dict[str, Any]:
    prefix = call.params.get("PathPrefix")
    call.authorize("iam:ListPolicies", f"arn:aws:iam::{call.account_id}:policy/{(prefix or '/').lstrip('/')}")
    found = policies.list_policies(
        call.session,
        call.account_id,
        scope=call.params.get("Scope"),
        only_attached=boolean(call, "OnlyAttached"),
        path_prefix=prefix,
        usage_filter=call.params.get("PolicyUsageFilter"),
    )
    return page(
        call,
        found,
        lambda item: f"{item.policy.name_key}:{item.policy.account_id}",
        "Policies",
        lambda item: policy_view(item.policy, item.attachments, item.boundaries, listing=True),
    )


@action("DeletePolicy", "iam")
def delete_policy(call: Call) -> None:
    policy_arn = _policy_arn(call)
    _authorize_on_policy(call, "iam:DeletePolicy", policy_arn)
    policies.delete_policy(call.session, call.account_id, policy_arn)
    return None


# --- versions ---------------------------------------------------------------------------------


@action("CreatePolicyVersion", "iam")
def create_policy_version(call: Call) -> dict[str, Any]:
    policy_arn = _policy_arn(call)
    document = call.params.required("PolicyDocument")
    _authorize_on_policy(call, "iam:CreatePolicyVersion", policy_arn)
    version = policies.create_policy_version(
        call.session, call.account_id, policy_arn, document, boolean(call, "SetAsDefault"), call.runtime.now()
    )
    return {"PolicyVersion": version_view(version, version.policy.default_version_id, document=False)}


@action("GetPolicyVersion", "iam", read_only=True)
def get_policy_version(call: Call) -> dict[str, Any]:
    policy_arn = _policy_arn(call)
    version_id = policies.validate_version_id(call.params.get("VersionId"))
    _authorize_on_policy(call, "iam:GetPolicyVersion", policy_arn)
    policy, version = policies.get_policy_version(call.session, call.account_id, policy_arn, version_id)
    return {"PolicyVersion": version_view(version, policy.default_version_id)}


@action("ListPolicyVersions", "iam", read_only=True)
def list_policy_versions(call: Call) -> dict[str, Any]:
    policy_arn = _policy_arn(call)
    _authorize_on_policy(call, "iam:ListPolicyVersions", policy_arn)
    policy = policies.get_policy(call.session, call.account_id, policy_arn)
    return page(
        call,
        policy.versions,
        policies.version_sort_key,
        "Versions",
        lambda v: version_view(v, policy.default_version_id, document=False),
    )


@action("DeletePolicyVersion", "iam")
def delete_policy_version(call: Call) -> None:
    policy_arn = _policy_arn(call)
    version_id = policies.validate_version_id(call.params.get("VersionId"))
    _authorize_on_policy(call, "iam:DeletePolicyVersion", policy_arn)
    policies.delete_policy_version(call.session, call.account_id, policy_arn, version_id)
    return None


@action("SetDefaultPolicyVersion", "iam")
def set_default_policy_version(call: Call) -> None:
    policy_arn = _policy_arn(call)
    version_id = policies.validate_version_id(call.params.get("VersionId"))
    _authorize_on_policy(call, "iam:SetDefaultPolicyVersion", policy_arn)
    policies.set_default_policy_version(call.session, call.account_id, policy_arn, version_id)
    return None


# --- attachments --------------------------------------------------------------------------------

_Fetch = Callable[[Call, str], "models.User | models.Group | models.Role"]
_Authorize = Callable[..., object]
_KINDS: dict[str, tuple[str, Callable[[str], str], _Authorize, _Fetch]] = {
    "User": (
        "UserName",
        validate_user_name,
        authorize_on_user,
        lambda call, name: users.get_user(call.session, call.account_id, name),
    ),
    "Group": (
        "GroupName",
        validate_group_name,
        authorize_on_group,
        lambda call, name: groups.get_group(call.session, call.account_id, name),
    ),
    "Role": (
        "RoleName",
        validate_role_name,
        authorize_on_role,
        lambda call, name: roles.get_role(call.session, call.account_id, name),
    ),
}


def _register_attachments(label: str) -> None:
    parameter, validate, authorize, fetch = _KINDS[label]

    def attach(call: Call) -> None:
        name = validate(call.params.required(parameter))
        policy_arn = _policy_arn(call)
        authorize(call, f"iam:Attach{label}Policy", name, {"iam:PolicyARN": policy_arn})
        policies.attach_policy(call.session, call.account_id, fetch(call, name), policy_arn)

    def detach(call: Call) -> None:
        name = validate(call.params.required(parameter))
        policy_arn = _policy_arn(call)
        authorize(call, f"iam:Detach{label}Policy", name, {"iam:PolicyARN": policy_arn})
        policies.detach_policy(call.session, call.account_id, fetch(call, name), policy_arn)

    def list_attached(call: Call) -> dict[str, Any]:
        name = validate(call.params.required(parameter))
        authorize(call, f"iam:ListAttached{label}Policies", name)
        found = policies.attached_policies(fetch(call, name), call.params.get("PathPrefix"))
        return page(call, found, lambda p: f"{p.name_key}:{p.account_id}", "AttachedPolicies", attached_view)

    action(f"Attach{label}Policy", "iam")(attach)
    action(f"Detach{label}Policy", "iam")(detach)
    action(f"ListAttached{label}Policies", "iam", read_only=True)(list_attached)


for _label in _KINDS:
    _register_attachments(_label)


@action("ListEntitiesForPolicy", "iam", read_only=True)
def list_entities_for_policy(call: Call) -> dict[str, Any]:
    policy_arn = _policy_arn(call)
    _authorize_on_policy(call, "iam:ListEntitiesForPolicy", policy_arn)
    found = policies.entities_for_policy(
        call.session,
        call.account_id,
        policy_arn,
        entity_filter=call.params.get("EntityFilter"),
        path_prefix=call.params.get("PathPrefix"),
        usage_filter=call.params.get("PolicyUsageFilter"),
    )
    listed = page(call, found, lambda e: e.sort_key, "Entities", lambda e: e)
    entities: list[policies.PolicyEntity] = listed.pop("Entities")
    return {
        "PolicyGroups": [{"GroupName": e.name, "GroupId": e.unique_id} for e in entities if e.kind == "Group"],
        "PolicyUsers": [{"UserName": e.name, "UserId": e.unique_id} for e in entities if e.kind == "User"],
        "PolicyRoles": [{"RoleName": e.name, "RoleId": e.unique_id} for e in entities if e.kind == "Role"],
        **listed,
    }


# --- tags ---------------------------------------------------------------------------------------


@action("TagPolicy", "iam")
def tag_policy(call: Call) -> None:
    policy_arn = _policy_arn(call)
    tags = required_tags(call)
    _authorize_on_policy(call, "iam:TagPolicy", policy_arn, request_tags(tags))
    policy = policies.modifiable_policy(call.session, call.account_id, policy_arn)
    policy.tags = merged_tags(policy.tags, tags, "Policy")
    return None


@action("UntagPolicy", "iam")
def untag_policy(call: Call) -> None:
    policy_arn = _policy_arn(call)
    keys = required_members(call, "TagKeys")
    _authorize_on_policy(call, "iam:UntagPolicy", policy_arn, {"aws:TagKeys": keys})
    policy = policies.modifiable_policy(call.session, call.account_id, policy_arn)
    policy.tags = without_tags(policy.tags, keys)
    return None


@action("ListPolicyTags", "iam", read_only=True)
def list_policy_tags(call: Call) -> dict[str, Any]:
    policy_arn = _policy_arn(call)
    _authorize_on_policy(call, "iam:ListPolicyTags", policy_arn)
    return tag_page(call, policies.get_policy(call.session, call.account_id, policy_arn).tags)
