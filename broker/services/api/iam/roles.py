"""IAM actions on roles: lifecycle, trust policy, permissions boundary, tags."""

from __future__ import annotations

from typing import Any

from broker.iam.names import validate_role_name
from broker.services.api.call import Call
from broker.services.api.iam.support import (
    authorize_on_role,
    boundary_context,
    entity_arn,
    list_resource,
    page,
    request_tags,
    required_members,
    required_tags,
    tag_page,
)
from broker.services.api.registry import action
from broker.services.iam import roles
from broker.services.iam._common import merged_tags, without_tags
from broker.services.iam.views import role_view


@action("CreateRole", "iam")
def create_role(call: Call) -> dict[str, Any]:
    name = validate_role_name(call.params.required("RoleName"))
    path = call.params.get("Path") or "/"
    boundary = call.params.get("PermissionsBoundary")
    tags = call.params.tags()
    context = {**request_tags(tags), **boundary_context(boundary)}
    call.authorize("iam:CreateRole", entity_arn("role", call.account_id, name, path), context)
    role = roles.create_role(
        call.session,
        call.account_id,
        name=name,
        trust_policy=call.params.required("AssumeRolePolicyDocument"),
        path=path,
        description=call.params.get("Description"),
        max_session_duration=call.params.integer("MaxSessionDuration"),
        permissions_boundary=boundary,
        tags=tags,
        now=call.runtime.now(),
    )
    return {"Role": role_view(role, last_used=False)}


@action("GetRole", "iam", read_only=True)
def get_role(call: Call) -> dict[str, Any]:
    name = validate_role_name(call.params.required("RoleName"))
    authorize_on_role(call, "iam:GetRole", name)
    return {"Role": role_view(roles.get_role(call.session, call.account_id, name))}


@action("ListRoles", "iam", read_only=True)
def list_roles(call: Call) -> dict[str, Any]:
    prefix = call.params.get("PathPrefix")
    call.authorize("iam:ListRoles", list_resource(call, "role", prefix))
    found = roles.list_roles(call.session, call.account_id, prefix)
    return page(call, found, lambda r: r.name_key, "Roles", lambda r: role_view(r, listing=True))


@action("UpdateRole", "iam")
def update_role(call: Call) -> dict[str, Any]:
    name = validate_role_name(call.params.required("RoleName"))
    authorize_on_role(call, "iam:UpdateRole", name)
    roles.update_role(
        call.session,
        call.account_id,
        name,
        call.params.get("Description"),
        call.params.integer("MaxSessionDuration"),
    )
    return {}


@action("UpdateRoleDescription", "iam")
def update_role_description(call: Call) -> dict[str, Any]:
    name = validate_role_name(call.params.required("RoleName"))
    description = call.params.get("Description")
    if description is None:
        description = call.params.required("Description")
    authorize_on_role(call, "iam:UpdateRoleDescription", name)
    role = roles.update_role(call.session, call.account_id, name, description, None)
    return {"Role": role_view(role)}


@action("DeleteRole", "iam")
def delete_role(call: Call) -> None:
    name = validate_role_name(call.params.required("RoleName"))
    authorize_on_role(call, "iam:DeleteRole", name)
    roles.delete_role(call.session, call.account_id, name)
    return None


@action("UpdateAssumeRolePolicy", "iam")
def update_assume_role_policy(call: Call) -> None:
    name = validate_role_name(call.params.required("RoleName"))
    authorize_on_role(call, "iam:UpdateAssumeRolePolicy", name)
    roles.update_assume_role_policy(call.session, call.account_id, name, call.params.required("PolicyDocument"))
    return None


@action("PutRolePermissionsBoundary", "iam")
def put_role_permissions_boundary(call: Call) -> None:
    name = validate_role_name(call.params.required("RoleName"))
    boundary = call.params.required("PermissionsBoundary")
    authorize_on_role(call, "iam:PutRolePermissionsBoundary", name, boundary_context(boundary))
    roles.put_role_permissions_boundary(call.session, call.account_id, name, boundary)
    return None


@action("DeleteRolePermissionsBoundary", "iam")
def delete_role_permissions_boundary(call: Call) -> None:
    name = validate_role_name(call.params.required("RoleName"))
    authorize_on_role(call, "iam:DeleteRolePermissionsBoundary", name)
    roles.delete_role_permissions_boundary(call.session, call.account_id, name)
    return None


@action("TagRole", "iam")
def tag_role(call: Call) -> None:
    name = validate_role_name(call.params.required("RoleName"))
    tags = required_tags(call)
    authorize_on_role(call, "iam:TagRole", name, request_tags(tags))
    role = roles.get_role(call.session, call.account_id, name)
    role.tags = merged_tags(role.tags, tags, "Role")
    return None


@action("UntagRole", "iam")
def untag_role(call: Call) -> None:
    name = validate_role_name(call.params.required("RoleName"))
    keys = required_members(call, "TagKeys")
    authorize_on_role(call, "iam:UntagRole", name, {"aws:TagKeys": keys})
    role = roles.get_role(call.session, call.account_id, name)
    role.tags = without_tags(role.tags, keys)
    return None


@action("ListRoleTags", "iam", read_only=True)
def list_role_tags(call: Call) -> dict[str, Any]:
    name = validate_role_name(call.params.required("RoleName"))
    authorize_on_role(call, "iam:ListRoleTags", name)
    return tag_page(call, roles.get_role(call.session, call.account_id, name).tags)
