"""IAM actions on groups and their members."""

from __future__ import annotations

from typing import Any

from broker.iam.names import name_key, validate_group_name, validate_path, validate_user_name
from broker.services.api.call import Call
from broker.services.api.iam.support import (
    authorize_on_group,
    authorize_on_user,
    entity_arn,
    list_resource,
    page,
)
from broker.services.api.registry import action
from broker.services.iam import groups, users
from broker.services.iam.views import group_view, user_view
from broker.store import repositories as repo


@action("CreateGroup", "iam")
def create_group(call: Call) -> dict[str, Any]:
    name = validate_group_name(call.params.required("GroupName"))
    path = call.params.get("Path")
    call.authorize("iam:CreateGroup", entity_arn("group", call.account_id, name, path))
    return {"Group": group_view(groups.create_group(call.session, call.account_id, name, path, call.runtime.now()))}


@action("GetGroup", "iam", read_only=True)
def get_group(call: Call) -> dict[str, Any]:
    name = validate_group_name(call.params.required("GroupName"))
    authorize_on_group(call, "iam:GetGroup", name)
    group = groups.get_group(call.session, call.account_id, name)
    listed = page(call, group.members, lambda u: u.name_key, "Users", lambda u: user_view(u, listing=True))
    return {"Group": group_view(group), **listed}


@action("ListGroups", "iam", read_only=True)
def list_groups(call: Call) -> dict[str, Any]:
    prefix = call.params.get("PathPrefix")
    call.authorize("iam:ListGroups", list_resource(call, "group", prefix))
    found = groups.list_groups(call.session, call.account_id, prefix)
    return page(call, found, lambda g: g.name_key, "Groups", group_view)


@action("UpdateGroup", "iam")
def update_group(call: Call) -> None:
    name = validate_group_name(call.params.required("GroupName"))
    new_name = call.params.get("NewGroupName")
    new_path = call.params.get("NewPath")
    if new_path is not None:
        validate_path(new_path, "newPath")
    authorize_on_group(call, "iam:UpdateGroup", name)
    if new_name is not None or new_path is not None:
        # AWS: renaming or moving needs permission on the group as it is and as it will be.
        group = repo.group_by_name(call.session, call.account_id, name_key(name))
        target_path = new_path or (group.path if group else "/")
        call.authorize("iam:UpdateGroup", entity_arn("group", call.account_id, new_name or name, target_path))
    groups.update_group(call.session, call.account_id, name, new_path, new_name)
    return None


@action("DeleteGroup", "iam")
def delete_group(call: Call) -> None:
    name = validate_group_name(call.params.required("GroupName"))
    authorize_on_group(call, "iam:DeleteGroup", name)
    groups.delete_group(call.session, call.account_id, name)
    return None


@action("AddUserToGroup", "iam")
def add_user_to_group(call: Call) -> None:
    name = validate_group_name(call.params.required("GroupName"))
    user_name = validate_user_name(call.params.required("UserName"))
    authorize_on_group(call, "iam:AddUserToGroup", name)
    groups.add_user_to_group(call.session, call.account_id, name, user_name)
    return None


@action("RemoveUserFromGroup", "iam")
def remove_user_from_group(call: Call) -> None:
    name = validate_group_name(call.params.required("GroupName"))
    user_name = validate_user_name(call.params.required("UserName"))
    authorize_on_group(call, "iam:RemoveUserFromGroup", name)
    groups.remove_user_from_group(call.session, call.account_id, name, user_name)
    return None


@action("ListGroupsForUser", "iam", read_only=True)
def list_groups_for_user(call: Call) -> dict[str, Any]:
    user_name = validate_user_name(call.params.required("UserName"))
    authorize_on_user(call, "iam:ListGroupsForUser", user_name)
    user = users.get_user(call.session, call.account_id, user_name)
    return page(call, user.groups, lambda g: g.name_key, "Groups", group_view)
