"""Managed policies: lifecycle, versions, attachments, the entities using them, tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from broker.iam.names import validate_policy_name
from broker.services.api.call import Call
from broker.services.api.iam import shared
from broker.services.api.iam.support import (
    GROUP,
    POLICY,
    ROLE,
    USER_64,
    Target,
    authorize_on,
    boolean,
    list_resource,
    page,
    request_tags,
)
from broker.services.api.registry import action
from broker.services.iam import policies, principals
from broker.services.iam.resources import resource_arn
from broker.services.iam.views import policy_view, version_view


@action("CreatePolicy", "iam")
def create_policy(call: Call) -> dict[str, Any]:
    name = validate_policy_name(call.params.required("PolicyName"))
    path = call.params.get("Path")
    tags = call.params.tags()
    call.authorize("iam:CreatePolicy", resource_arn("policy", call.account_id, name, path), request_tags(tags))
    policy = policies.create_policy(
        call.tx,
        call.account_id,
        name=name,
        path=path,
        document=call.params.required("PolicyDocument"),
        description=call.params.get("Description"),
        tags=tags,
        now=call.runtime.now(),
    )
    return {"Policy": policy_view(policy, 0, 0, description=False)}


@action("GetPolicy", "iam", read_only=True)
def get_policy(call: Call) -> dict[str, Any]:
    policy_arn = POLICY.authorized(call, "iam:GetPolicy")
    return {"Policy": policies.policy_with_usage(call.tx, call.account_id, policy_arn)}


@action("ListPolicies", "iam", read_only=True)
def list_policies(call: Call) -> dict[str, Any]:
    prefix = call.params.get("PathPrefix")
    call.authorize("iam:ListPolicies", list_resource(call, "policy", prefix))
    found = policies.list_policies(
        call.tx,
        call.account_id,
        scope=call.params.get("Scope"),
        only_attached=boolean(call, "OnlyAttached"),
        path_prefix=prefix,
        usage_filter=call.params.get("PolicyUsageFilter"),
    )
    return page(call, found, "Policies")


# --- versions ---------------------------------------------------------------------------------


@action("CreatePolicyVersion", "iam")
def create_policy_version(call: Call) -> dict[str, Any]:
    policy_arn = POLICY.read(call.params)
    document = call.params.required("PolicyDocument")
    authorize_on(call, "Policy", "iam:CreatePolicyVersion", policy_arn)
    version = policies.create_policy_version(
        call.tx, call.account_id, policy_arn, document, boolean(call, "SetAsDefault"), call.runtime.now()
    )
    return {"PolicyVersion": version_view(version, document=False)}


def _version(call: Call, action_name: str) -> tuple[str, str]:
    """The policy and the version an action names, once the action on the policy is allowed."""
    policy_arn = POLICY.read(call.params)
    version_id = policies.validate_version_id(call.params.get("VersionId"))
    authorize_on(call, "Policy", action_name, policy_arn)
    return policy_arn, version_id


@action("GetPolicyVersion", "iam", read_only=True)
def get_policy_version(call: Call) -> dict[str, Any]:
    version = policies.get_policy_version(call.tx, call.account_id, *_version(call, "iam:GetPolicyVersion"))
    return {"PolicyVersion": version_view(version)}


@action("ListPolicyVersions", "iam", read_only=True)
def list_policy_versions(call: Call) -> dict[str, Any]:
    policy_arn = POLICY.authorized(call, "iam:ListPolicyVersions")
    return page(call, policies.list_policy_versions(call.tx, call.account_id, policy_arn), "Versions")


@action("DeletePolicyVersion", "iam")
def delete_policy_version(call: Call) -> None:
    policies.delete_policy_version(call.tx, call.account_id, *_version(call, "iam:DeletePolicyVersion"))


@action("SetDefaultPolicyVersion", "iam")
def set_default_policy_version(call: Call) -> None:
    policies.set_default_policy_version(call.tx, call.account_id, *_version(call, "iam:SetDefaultPolicyVersion"))


# --- attachments --------------------------------------------------------------------------------


def _register_attachments(target: Target) -> None:
    label = target.label

    def change(verb: Literal["Attach", "Detach"]) -> Callable[[Call], None]:
        use_case = principals.attach_managed_policy if verb == "Attach" else principals.detach_managed_policy

        def handler(call: Call) -> None:
            name = target.read(call.params)
            policy_arn = policies.validate_attached_policy_arn(call.params.required("PolicyArn"))
            authorize_on(call, label, f"iam:{verb}{label}Policy", name, {"iam:PolicyARN": policy_arn})
            use_case(call.tx, label, call.account_id, name, policy_arn)

        return handler

    def list_attached(call: Call) -> dict[str, Any]:
        name = target.authorized(call, f"iam:ListAttached{label}Policies")
        prefix = call.params.get("PathPrefix")
        found = principals.attached_managed_policies(call.tx, label, call.account_id, name, prefix)
        return page(call, found, "AttachedPolicies")

    action(f"Attach{label}Policy", "iam")(change("Attach"))
    action(f"Detach{label}Policy", "iam")(change("Detach"))
    action(f"ListAttached{label}Policies", "iam", read_only=True)(list_attached)


for _target in (USER_64, GROUP, ROLE):
    _register_attachments(_target)


@action("ListEntitiesForPolicy", "iam", read_only=True)
def list_entities_for_policy(call: Call) -> dict[str, Any]:
    policy_arn = POLICY.authorized(call, "iam:ListEntitiesForPolicy")
    found = policies.entities_for_policy(
        call.tx,
        call.account_id,
        policy_arn,
        entity_filter=call.params.get("EntityFilter"),
        path_prefix=call.params.get("PathPrefix"),
        usage_filter=call.params.get("PolicyUsageFilter"),
    )
    listed = page(call, found, "Entities")
    entities: list[policies.PolicyEntity] = listed.pop("Entities")
    return {
        "PolicyGroups": [{"GroupName": e.name, "GroupId": e.unique_id} for e in entities if e.kind == "Group"],
        "PolicyUsers": [{"UserName": e.name, "UserId": e.unique_id} for e in entities if e.kind == "User"],
        "PolicyRoles": [{"RoleName": e.name, "RoleId": e.unique_id} for e in entities if e.kind == "Role"],
        **listed,
    }


shared.register_deletion(POLICY, policies.delete_policy)
shared.register_tagging(POLICY)
