"""Service control policies: create, change, delete, attach and detach them, and switch the type on or off."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from broker.iam import orgs
from broker.iam.org_entities import Organization, Root
from broker.services.api.organizations import views
from broker.services.api.organizations.paging import by_id
from broker.services.api.organizations.request import SCP_CONTEXT, Request, action
from broker.services.orgs import policies as scps
from broker.store import Tx

PolicyTypeSwitch = Callable[[Tx, str, object, object], tuple[Organization, Root]]


def _switch_policy_type(request: Request, switch: PolicyTypeSwitch) -> dict[str, Any]:
    root_id = request.authorized("RootId", orgs.ROOT_ID, context=SCP_CONTEXT)
    organization, root = request.run(switch, root_id, request.get("PolicyType"))
    return {"Root": views.root(organization, root)}


@action("EnablePolicyType")
def enable_policy_type(request: Request) -> dict[str, Any]:
    return _switch_policy_type(request, scps.enable_policy_type)


@action("DisablePolicyType")
def disable_policy_type(request: Request) -> dict[str, Any]:
    return _switch_policy_type(request, scps.disable_policy_type)


@action("CreatePolicy")
def create_policy(request: Request) -> dict[str, Any]:
    request.authorize(context={**SCP_CONTEXT, **request.tag_context()})
    fields = request.arguments(name="Name", description="Description", content="Content", policy_type="Type")
    organization, policy = request.run(scps.create_policy, tags=request.get("Tags"), now=request.now(), **fields)
    return views.policy(organization, policy)


def _policy_id(request: Request) -> str:
    return request.authorized("PolicyId", orgs.POLICY_ID, context=SCP_CONTEXT)


@action("DescribePolicy", read_only=True)
def describe_policy(request: Request) -> dict[str, Any]:
    organization, policy = request.run(scps.describe_policy, _policy_id(request))
    return views.policy(organization, policy)


@action("UpdatePolicy")
def update_policy(request: Request) -> dict[str, Any]:
    policy_id = _policy_id(request)
    fields = request.arguments(name="Name", description="Description", content="Content")
    organization, policy = request.run(scps.update_policy, policy_id, **fields)
    return views.policy(organization, policy)


@action("ListPolicies", read_only=True)
def list_policies(request: Request) -> dict[str, Any]:
    request.authorize()
    organization, found = request.run(scps.list_policies, request.get("Filter"))
    return request.listing("Policies", found, by_id, partial(views.policy_summary, organization))


@action("DeletePolicy")
def delete_policy(request: Request) -> dict[str, Any]:
    request.run(scps.delete_policy, _policy_id(request))
    return {}


def _target_id(request: Request) -> str:
    return request.id("TargetId", orgs.TARGET_ID, "INVALID_PATTERN_TARGET_ID")


def _attachment(request: Request) -> tuple[str, str]:
    """The ``PolicyId`` and ``TargetId`` of an attach or detach call, once the action is authorized on both."""
    policy_id = request.id("PolicyId", orgs.POLICY_ID)
    target_id = _target_id(request)
    request.authorize(policy_id, target_id, context=SCP_CONTEXT)
    return policy_id, target_id


@action("AttachPolicy")
def attach_policy(request: Request) -> dict[str, Any]:
    request.run(scps.attach_policy, *_attachment(request))
    return {}


@action("DetachPolicy")
def detach_policy(request: Request) -> dict[str, Any]:
    request.run(scps.detach_policy, *_attachment(request))
    return {}


@action("ListPoliciesForTarget", read_only=True)
def list_policies_for_target(request: Request) -> dict[str, Any]:
    target_id = _target_id(request)
    request.authorize(target_id, context=SCP_CONTEXT)
    organization, found = request.run(scps.policies_for_target, target_id, request.get("Filter"))
    return request.listing("Policies", found, by_id, partial(views.policy_summary, organization))


@action("ListTargetsForPolicy", read_only=True)
def list_targets_for_policy(request: Request) -> dict[str, Any]:
    targets = request.run(scps.targets_for_policy, _policy_id(request))
    return request.listing("Targets", targets, by_id, views.target)
