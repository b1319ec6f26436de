"""AWS Organizations on the JSON protocol (``X-Amz-Target: AWSOrganizationsV20161128.*``).

Each handler finds the caller's organization (so resource ARNs can be named), asks the policy
engine for ``organizations:<Action>`` on AWS's resource for that action, then calls the service.
Shapes and errors are botocore's Organizations model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from broker.crypto.box import DecryptionError
from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.services.api.call import Call
from broker.services.api.registry import action
from broker.services.orgs import policies as scps
from broker.services.orgs import structure
from broker.services.orgs.context import policy_arn
from broker.store import models

_NEXT_TOKEN_MAX = 1024
T = TypeVar("T")


OrganizationsHandler = Callable[[Call, Mapping[str, Any]], dict[str, Any]]


def _action(name: str, read_only: bool = False) -> Callable[[OrganizationsHandler], OrganizationsHandler]:
    """Register an Organizations action; its handler reads the JSON request body it is given."""

    def register(handler: OrganizationsHandler) -> OrganizationsHandler:
        action(name, "organizations", read_only)(lambda call: handler(call, call.body))
        return handler

    return register


# --- views (botocore's shapes) ------------------------------------------------------------------


def _epoch(value: Any) -> float:
    return float(value.timestamp())


def _policy_types(node: models.OrganizationNode) -> list[dict[str, str]]:
    return [{"Type": kind, "Status": status} for kind, status in sorted((node.policy_types or {}).items())]


def _organization_view(session: Any, organization: models.Organization) -> dict[str, Any]:
    management = organization.management_account_id
    account = session.get(models.Account, management)
    view: dict[str, Any] = {
        "Id": organization.id,
        "Arn": orgs.organization_arn(management, organization.id),
        "FeatureSet": organization.feature_set,
        "MasterAccountArn": orgs.account_arn(management, organization.id, management),
        "MasterAccountId": management,
    }
    if account is not None and account.email:
        view["MasterAccountEmail"] = account.email
    # Deprecated in AWS's model, still sent: the types the feature set makes available.
    view["AvailablePolicyTypes"] = (
        [{"Type": orgs.SERVICE_CONTROL_POLICY, "Status": "ENABLED"}] if organization.feature_set == "ALL" else []
    )
    return view


def _root_view(organization: models.Organization, root: models.OrganizationNode) -> dict[str, Any]:
    return {
        "Id": root.id,
        "Arn": orgs.root_arn(organization.management_account_id, organization.id, root.id),
        "Name": root.name,
        "PolicyTypes": _policy_types(root),
    }


def _ou_view(organization: models.Organization, ou: models.OrganizationNode) -> dict[str, Any]:
    return {
        "Id": ou.id,
        "Arn": orgs.ou_arn(organization.management_account_id, organization.id, ou.id),
        "Name": ou.name,
    }


def _account_view(organization: models.Organization, member: models.OrganizationAccount) -> dict[str, Any]:
    account = member.account
    view: dict[str, Any] = {
        "Id": member.account_id,
        "Arn": orgs.account_arn(organization.management_account_id, organization.id, member.account_id),
    }
    if account.email:
        view["Email"] = account.email
    view.update(
        {
            "Name": structure.account_label(account),
            "Status": "ACTIVE",
            "State": "ACTIVE",
            "JoinedMethod": member.joined_method,
            "JoinedTimestamp": _epoch(member.joined_at),
        }
    )
    return view


def _status_view(request: models.CreateAccountRequest) -> dict[str, Any]:
    view: dict[str, Any] = {
        "Id": request.id,
        "AccountName": request.account_name,
        "State": request.state,
        "RequestedTimestamp": _epoch(request.requested_at),
    }
    if request.completed_at is not None:
        view["CompletedTimestamp"] = _epoch(request.completed_at)
    if request.account_id:
        view["AccountId"] = request.account_id
    if request.failure_reason:
        view["FailureReason"] = request.failure_reason
    return view


def _policy_summary(organization: models.Organization, policy: models.OrganizationPolicy) -> dict[str, Any]:
    return {
        "Id": policy.id,
        "Arn": policy_arn(organization, policy),
        "Name": policy.name,
        "Description": policy.description,
        "Type": policy.type,
        "AwsManaged": policy.aws_managed,
    }


def _policy_view(organization: models.Organization, policy: models.OrganizationPolicy) -> dict[str, Any]:
    return {"Policy": {"PolicySummary": _policy_summary(organization, policy), "Content": policy.content}}


# --- pagination ---------------------------------------------------------------------------------


def _page(
    call: Call, operation: str, body: Mapping[str, Any], items: Sequence[T], key: Callable[[T], str]
) -> tuple[list[T], dict[str, str]]:
    """``MaxResults`` items after the ``NextToken`` key.

    The token seals the last key returned, bound to the caller's account, the operation and its
    other parameters: a token the broker did not issue, or issued for another listing, is
    ``InvalidInputException`` (``INVALID_NEXT_TOKEN``), as in AWS.
    """
    limit = orgs.max_results(body.get("MaxResults"))
    items = sorted(items, key=key)
    parameters = {name: value for name, value in body.items() if name not in ("MaxResults", "NextToken")}
    binding = "organizations-next-token|" + json.dumps(
        [call.account_id, operation, parameters], sort_keys=True, separators=(",", ":"), default=str
    )
    token = body.get("NextToken")
    start = 0
    if token is not None:
        try:
            if not isinstance(token, str) or len(token) > _NEXT_TOKEN_MAX:
                raise DecryptionError
            after = call.runtime.box.open(token, binding)
        except (DecryptionError, ValueError):
            raise orgs.invalid_input("INVALID_NEXT_TOKEN", "The NextToken is not one this service returned.") from None
        start = next((index for index, item in enumerate(items) if key(item) > after), len(items))
    page = list(items[start : start + limit])
    more: dict[str, str] = {}
    if start + limit < len(items):
        more["NextToken"] = call.runtime.box.seal(key(page[-1]), binding)
    return page, more


# --- resource ARNs for authorization -------------------------------------------------------------


def _arn_of(organization: models.Organization, identifier: object) -> str:
    """The ARN AWS authorizes for a root, OU, account or policy id (well-formed ids only)."""
    management, org_id = organization.management_account_id, organization.id
    value = str(identifier)
    if orgs.ROOT_ID.fullmatch(value):
        return orgs.root_arn(management, org_id, value)
    if orgs.OU_ID.fullmatch(value):
        return orgs.ou_arn(management, org_id, value)
    if orgs.ACCOUNT_ID.fullmatch(value):
        return orgs.account_arn(management, org_id, value)
    if value == orgs.FULL_AWS_ACCESS_ID:
        return orgs.aws_managed_policy_arn(value)
    if orgs.POLICY_ID.fullmatch(value):
        return orgs.policy_arn(management, org_id, value)
    return "*"


def _checked(body: Mapping[str, Any], field: str, pattern: Any, reason: str = "INVALID_PATTERN") -> str:
    return orgs.identifier(orgs.required(body, field), field, pattern, reason)


_SCP_CONTEXT = {"organizations:PolicyType": orgs.SERVICE_CONTROL_POLICY}


def _authorized(
    call: Call, action: str, *identifiers: str, context: dict[str, Any] | None = None
) -> models.Organization:
    """Authorize ``action`` on the ARN of each id (on ``*`` when none are given), then return the
    caller's organization. Permission comes first, as in AWS: a caller without it learns nothing,
    not even whether its account is in an organization."""
    member = structure.membership(call.session, call.account_id)
    organization = call.session.get(models.Organization, member.organization_id) if member is not None else None
    for identifier in identifiers or ("*",):
        resource = _arn_of(organization, identifier) if organization is not None else "*"
        call.authorize(action, resource, context)
    if organization is None:
        raise AwsError("AWSOrganizationsNotInUseException")
    return organization


def _managed(call: Call, action: str, *identifiers: str) -> models.Organization:
    """:func:`_authorized`, for actions only the management account may call."""
    _authorized(call, action, *identifiers)
    return structure.managed_organization(call.session, call.account_id)


def _parent(call: Call, body: Mapping[str, Any], action: str) -> tuple[models.Organization, models.OrganizationNode]:
    """The authorized ``ParentId`` of a listing, with its organization."""
    parent_id = _checked(body, "ParentId", orgs.PARENT_ID)
    organization = _managed(call, action, parent_id)
    return organization, structure.parent_node(call.session, organization, parent_id)


# --- the organization ---------------------------------------------------------------------------


@_action("CreateOrganization")
def create_organization(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    call.authorize("organizations:CreateOrganization", "*")
    organization = structure.create_organization(
        call.session, call.account_id, body.get("FeatureSet"), call.runtime.now()
    )
    return {"Organization": _organization_view(call.session, organization)}


@_action("DescribeOrganization", read_only=True)
def describe_organization(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    organization = _authorized(call, "organizations:DescribeOrganization")
    # Every member account may describe its organization, as in AWS.
    return {"Organization": _organization_view(call.session, organization)}


@_action("DeleteOrganization")
def delete_organization(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    _authorized(call, "organizations:DeleteOrganization")
    structure.delete_organization(call.session, call.account_id)
    return {}


@_action("ListRoots", read_only=True)
def list_roots(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    organization = _managed(call, "organizations:ListRoots")
    roots, more = _page(call, "ListRoots", body, [structure.root_of(call.session, organization)], lambda r: r.id)
    return {"Roots": [_root_view(organization, root) for root in roots], **more}


@_action("EnablePolicyType")
def enable_policy_type(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    root_id = _checked(body, "RootId", orgs.ROOT_ID)
    _authorized(call, "organizations:EnablePolicyType", root_id, context=_SCP_CONTEXT)
    organization, root = scps.enable_policy_type(call.session, call.account_id, root_id, body.get("PolicyType"))
    return {"Root": _root_view(organization, root)}


@_action("DisablePolicyType")
def disable_policy_type(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    root_id = _checked(body, "RootId", orgs.ROOT_ID)
    _authorized(call, "organizations:DisablePolicyType", root_id, context=_SCP_CONTEXT)
    organization, root = scps.disable_policy_type(call.session, call.account_id, root_id, body.get("PolicyType"))
    return {"Root": _root_view(organization, root)}


# --- organizational units -----------------------------------------------------------------------


@_action("CreateOrganizationalUnit")
def create_organizational_unit(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    parent_id = _checked(body, "ParentId", orgs.PARENT_ID)
    _authorized(call, "organizations:CreateOrganizationalUnit", parent_id)
    organization, ou = structure.create_organizational_unit(
        call.session, call.account_id, parent_id, body.get("Name"), body.get("Tags"), call.runtime.now()
    )
    return {"OrganizationalUnit": _ou_view(organization, ou)}


@_action("DescribeOrganizationalUnit", read_only=True)
def describe_organizational_unit(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    ou_id = _checked(body, "OrganizationalUnitId", orgs.OU_ID)
    organization = _managed(call, "organizations:DescribeOrganizationalUnit", ou_id)
    return {
        "OrganizationalUnit": _ou_view(organization, structure.organizational_unit(call.session, organization, ou_id))
    }


@_action("UpdateOrganizationalUnit")
def update_organizational_unit(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    ou_id = _checked(body, "OrganizationalUnitId", orgs.OU_ID)
    _authorized(call, "organizations:UpdateOrganizationalUnit", ou_id)
    organization, ou = structure.update_organizational_unit(call.session, call.account_id, ou_id, body.get("Name"))
    return {"OrganizationalUnit": _ou_view(organization, ou)}


@_action("DeleteOrganizationalUnit")
def delete_organizational_unit(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    ou_id = _checked(body, "OrganizationalUnitId", orgs.OU_ID)
    _authorized(call, "organizations:DeleteOrganizationalUnit", ou_id)
    structure.delete_organizational_unit(call.session, call.account_id, ou_id)
    return {}


@_action("ListOrganizationalUnitsForParent", read_only=True)
def list_organizational_units_for_parent(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    organization, parent = _parent(call, body, "organizations:ListOrganizationalUnitsForParent")
    units, more = _page(
        call, "ListOrganizationalUnitsForParent", body, structure.child_nodes(call.session, parent), lambda ou: ou.id
    )
    return {"OrganizationalUnits": [_ou_view(organization, ou) for ou in units], **more}


@_action("ListChildren", read_only=True)
def list_children(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    parent_id = _checked(body, "ParentId", orgs.PARENT_ID)
    _authorized(call, "organizations:ListChildren", parent_id)
    children = structure.list_children(call.session, call.account_id, parent_id, body.get("ChildType"))
    page, more = _page(call, "ListChildren", body, children, lambda child: child.id)
    return {"Children": [{"Id": child.id, "Type": child.type} for child in page], **more}


@_action("ListParents", read_only=True)
def list_parents(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    child_id = _checked(body, "ChildId", orgs.CHILD_ID)
    _authorized(call, "organizations:ListParents", child_id)
    parents = structure.list_parents(call.session, call.account_id, child_id)
    page, more = _page(call, "ListParents", body, parents, lambda parent: parent.id)
    return {"Parents": [{"Id": parent.id, "Type": parent.type} for parent in page], **more}


# --- accounts -----------------------------------------------------------------------------------


@_action("CreateAccount")
def create_account(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    _authorized(call, "organizations:CreateAccount")
    request = structure.create_account(
        call.session,
        call.account_id,
        email=body.get("Email"),
        account_name=body.get("AccountName"),
        role_name=body.get("RoleName"),
        tags=body.get("Tags"),
        now=call.runtime.now(),
    )
    return {"CreateAccountStatus": _status_view(request)}


@_action("DescribeCreateAccountStatus", read_only=True)
def describe_create_account_status(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    _authorized(call, "organizations:DescribeCreateAccountStatus")
    request = structure.create_account_request(call.session, call.account_id, body.get("CreateAccountRequestId"))
    return {"CreateAccountStatus": _status_view(request)}


@_action("ListCreateAccountStatus", read_only=True)
def list_create_account_status(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    _authorized(call, "organizations:ListCreateAccountStatus")
    requests = structure.create_account_requests(call.session, call.account_id, body.get("States"))
    page, more = _page(call, "ListCreateAccountStatus", body, requests, lambda r: r.id)
    return {"CreateAccountStatuses": [_status_view(r) for r in page], **more}


@_action("ListAccounts", read_only=True)
def list_accounts(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    organization = _managed(call, "organizations:ListAccounts")
    members, more = _page(
        call, "ListAccounts", body, structure.accounts(call.session, organization), lambda m: m.account_id
    )
    return {"Accounts": [_account_view(organization, member) for member in members], **more}


@_action("ListAccountsForParent", read_only=True)
def list_accounts_for_parent(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    organization, parent = _parent(call, body, "organizations:ListAccountsForParent")
    members, more = _page(
        call, "ListAccountsForParent", body, structure.child_accounts(call.session, parent), lambda m: m.account_id
    )
    return {"Accounts": [_account_view(organization, member) for member in members], **more}


@_action("DescribeAccount", read_only=True)
def describe_account(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    account_id = _checked(body, "AccountId", orgs.ACCOUNT_ID)
    organization = _managed(call, "organizations:DescribeAccount", account_id)
    return {"Account": _account_view(organization, structure.member_account(call.session, organization, account_id))}


@_action("MoveAccount")
def move_account(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    account_id = _checked(body, "AccountId", orgs.ACCOUNT_ID)
    source = _checked(body, "SourceParentId", orgs.PARENT_ID)
    destination = _checked(body, "DestinationParentId", orgs.PARENT_ID)
    # AWS authorizes the account and both parents.
    _authorized(call, "organizations:MoveAccount", account_id, source, destination)
    structure.move_account(call.session, call.account_id, account_id, source, destination)
    return {}


# --- policies -----------------------------------------------------------------------------------


@_action("CreatePolicy")
def create_policy(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    _authorized(call, "organizations:CreatePolicy", context=_SCP_CONTEXT)
    organization, policy = scps.create_policy(
        call.session,
        call.account_id,
        name=body.get("Name"),
        description=body.get("Description"),
        content=body.get("Content"),
        policy_type=body.get("Type"),
        tags=body.get("Tags"),
        now=call.runtime.now(),
    )
    return _policy_view(organization, policy)


@_action("DescribePolicy", read_only=True)
def describe_policy(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    policy_id = _checked(body, "PolicyId", orgs.POLICY_ID)
    _authorized(call, "organizations:DescribePolicy", policy_id, context=_SCP_CONTEXT)
    organization, policy = scps.describe_policy(call.session, call.account_id, policy_id)
    return _policy_view(organization, policy)


@_action("UpdatePolicy")
def update_policy(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    policy_id = _checked(body, "PolicyId", orgs.POLICY_ID)
    _authorized(call, "organizations:UpdatePolicy", policy_id, context=_SCP_CONTEXT)
    organization, policy = scps.update_policy(
        call.session,
        call.account_id,
        policy_id,
        name=body.get("Name"),
        description=body.get("Description"),
        content=body.get("Content"),
    )
    return _policy_view(organization, policy)


@_action("DeletePolicy")
def delete_policy(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    policy_id = _checked(body, "PolicyId", orgs.POLICY_ID)
    _authorized(call, "organizations:DeletePolicy", policy_id, context=_SCP_CONTEXT)
    scps.delete_policy(call.session, call.account_id, policy_id)
    return {}


@_action("ListPolicies", read_only=True)
def list_policies(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    _authorized(call, "organizations:ListPolicies")
    organization, found = scps.list_policies(call.session, call.account_id, body.get("Filter"))
    page, more = _page(call, "ListPolicies", body, found, lambda p: p.id)
    return {"Policies": [_policy_summary(organization, policy) for policy in page], **more}


def _attachment_call(call: Call, body: Mapping[str, Any], action: str) -> tuple[str, str]:
    policy_id = _checked(body, "PolicyId", orgs.POLICY_ID)
    target_id = _checked(body, "TargetId", orgs.TARGET_ID, "INVALID_PATTERN_TARGET_ID")
    _authorized(call, action, policy_id, target_id, context=_SCP_CONTEXT)
    return policy_id, target_id


@_action("AttachPolicy")
def attach_policy(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    policy_id, target_id = _attachment_call(call, body, "organizations:AttachPolicy")
    scps.attach_policy(call.session, call.account_id, policy_id, target_id)
    return {}


@_action("DetachPolicy")
def detach_policy(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    policy_id, target_id = _attachment_call(call, body, "organizations:DetachPolicy")
    scps.detach_policy(call.session, call.account_id, policy_id, target_id)
    return {}


@_action("ListPoliciesForTarget", read_only=True)
def list_policies_for_target(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    target_id = _checked(body, "TargetId", orgs.TARGET_ID, "INVALID_PATTERN_TARGET_ID")
    _authorized(call, "organizations:ListPoliciesForTarget", target_id, context=_SCP_CONTEXT)
    organization, found = scps.policies_for_target(call.session, call.account_id, target_id, body.get("Filter"))
    page, more = _page(call, "ListPoliciesForTarget", body, found, lambda p: p.id)
    return {"Policies": [_policy_summary(organization, policy) for policy in page], **more}


@_action("ListTargetsForPolicy", read_only=True)
def list_targets_for_policy(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    policy_id = _checked(body, "PolicyId", orgs.POLICY_ID)
    _authorized(call, "organizations:ListTargetsForPolicy", policy_id, context=_SCP_CONTEXT)
    targets = scps.targets_for_policy(call.session, call.account_id, policy_id)
    page, more = _page(call, "ListTargetsForPolicy", body, targets, lambda t: t.id)
    return {
        "Targets": [{"TargetId": t.id, "Arn": t.arn, "Name": t.name, "Type": t.type} for t in page],
        **more,
    }


# --- tags ---------------------------------------------------------------------------------------


def _tag_call(call: Call, body: Mapping[str, Any], action: str) -> str:
    resource_id = _checked(body, "ResourceId", orgs.TAGGABLE_ID)
    _authorized(call, action, resource_id)
    return resource_id


@_action("TagResource")
def tag_resource(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    resource_id = _tag_call(call, body, "organizations:TagResource")
    structure.tag_resource(call.session, call.account_id, resource_id, body.get("Tags"))
    return {}


@_action("UntagResource")
def untag_resource(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    resource_id = _tag_call(call, body, "organizations:UntagResource")
    structure.untag_resource(call.session, call.account_id, resource_id, body.get("TagKeys"))
    return {}


@_action("ListTagsForResource", read_only=True)
def list_tags_for_resource(call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
    resource_id = _tag_call(call, body, "organizations:ListTagsForResource")
    tags = structure.resource_tags(call.session, call.account_id, resource_id)
    page, more = _page(call, "ListTagsForResource", body, tags, lambda tag: tag[0])
    return {"Tags": [{"Key": key, "Value": value} for key, value in page], **more}
