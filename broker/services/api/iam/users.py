"""IAM actions on users: lifecycle, permissions boundary, tags."""

from __future__ import annotations

from typing import Any

from broker.iam.names import validate_path, validate_user_name
from broker.services.api.call import Call
from broker.services.api.iam.support import (
    authorize_on_user,
    boundary_context,
    entity_arn,
    list_resource,
    page,
    request_tags,
    required_members,
    required_tags,
    tag_page,
    target_user_name,
)
from broker.services.api.registry import action
from broker.services.iam import users
from broker.services.iam._common import merged_tags, without_tags
from broker.services.iam.views import user_view


@action("CreateUser", "iam")
def create_user(call: Call) -> dict[str, Any]:
    name = validate_user_name(call.params.required("UserName"))
    path = call.params.get("Path")
    boundary = call.params.get("PermissionsBoundary")
    tags = call.params.tags()
    context = {**request_tags(tags), **boundary_context(boundary)}
    call.authorize("iam:CreateUser", entity_arn("user", call.account_id, name, path), context)
    user = users.create_user(
        call.session, call.account_id, name, path, call.runtime.now(), tags=tags, permissions_boundary=boundary
    )
    return {"User": user_view(user)}


@action("GetUser", "iam", read_only=True)
def get_user(call: Call) -> dict[str, Any]:
    name = validate_user_name(target_user_name(call), "userName")
    authorize_on_user(call, "iam:GetUser", name)
    return {"User": user_view(users.get_user(call.session, call.account_id, name))}


@action("ListUsers", "iam", read_only=True)
def list_users(call: Call) -> dict[str, Any]:
    prefix = call.params.get("PathPrefix")
    call.authorize("iam:ListUsers", list_resource(call, "user", prefix))
    found = users.list_users(call.session, call.account_id, prefix)
    return page(call, found, lambda u: u.name_key, "Users", lambda u: user_view(u, listing=True))


@action("UpdateUser", "iam")
def update_user(call: Call) -> None:
    name = validate_user_name(call.params.required("UserName"))
    new_name = call.params.get("NewUserName")
    new_path = call.params.get("NewPath")
    if new_path is not None:
        validate_path(new_path, "newPath")
    user = authorize_on_user(call, "iam:UpdateUser", name)
    if new_name is not None or new_path is not None:
        # AWS: renaming or moving needs permission on the user as it is and as it will be.
        target_path = new_path or (user.path if user else "/")
        call.authorize("iam:UpdateUser", entity_arn("user", call.account_id, new_name or name, target_path))
    users.update_user(call.session, call.account_id, name, new_path, new_name)
    return None


@action("DeleteUser", "iam")
def delete_user(call: Call) -> None:
    name = validate_user_name(call.params.required("UserName"))
    authorize_on_user(call, "iam:DeleteUser", name)
    users.delete_user(call.session, call.account_id, name)
    return None


@action("PutUserPermissionsBoundary", "iam")
def put_user_permissions_boundary(call: Call) -> None:
    name = validate_user_name(call.params.required("UserName"))
    boundary = call.params.required("PermissionsBoundary")
    authorize_on_user(call, "iam:PutUserPermissionsBoundary", name, boundary_context(boundary))
    users.put_user_permissions_boundary(call.session, call.account_id, name, boundary)
    return None


@action("DeleteUserPermissionsBoundary", "iam")
def delete_user_permissions_boundary(call: Call) -> None:
    name = validate_user_name(call.params.required("UserName"))
    authorize_on_user(call, "iam:DeleteUserPermissionsBoundary", name)
    users.delete_user_permissions_boundary(call.session, call.account_id, name)
    return None


@action("TagUser", "iam")
def tag_user(call: Call) -> None:
    name = validate_user_name(call.params.required("UserName"))
    tags = required_tags(call)
    authorize_on_user(call, "iam:TagUser", name, request_tags(tags))
    user = users.get_user(call.session, call.account_id, name)
    user.tags = merged_tags(user.tags, tags, "User")
    return None


@action("UntagUser", "iam")
def untag_user(call: Call) -> None:
    name = validate_user_name(call.params.required("UserName"))
    keys = required_members(call, "TagKeys")
    authorize_on_user(call, "iam:UntagUser", name, {"aws:TagKeys": keys})
    user = users.get_user(call.session, call.account_id, name)
    user.tags = without_tags(user.tags, keys)
    return None


@action("ListUserTags", "iam", read_only=True)
def list_user_tags(call: Call) -> dict[str, Any]:
    name = validate_user_name(call.params.required("UserName"))
    authorize_on_user(call, "iam:ListUserTags", name)
    return tag_page(call, users.get_user(call.session, call.account_id, name).tags)
