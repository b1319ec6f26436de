"""IAM actions on groups and their members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from broker.iam.names import validate_existing_user_name, validate_group_name
from broker.services.api.call import Call
from broker.services.api.iam import shared
from broker.services.api.iam.support import GROUP, USER, authorize_on, page, renaming
from broker.services.api.registry import action
from broker.services.iam import groups
from broker.services.iam.resources import resource_arn
from broker.services.iam.views import group_view


@action("CreateGroup", "iam")
def create_group(call: Call) -> dict[str, Any]:
    name = validate_group_name(call.params.required("GroupName"))
    path = call.params.get("Path")
    call.authorize("iam:CreateGroup", resource_arn("group", call.account_id, name, path))
    return {"Group": group_view(groups.create_group(call.tx, call.account_id, name, path, call.runtime.now()))}


@action("GetGroup", "iam", read_only=True)
def get_group(call: Call) -> dict[str, Any]:
    name = GROUP.authorized(call, "iam:GetGroup")
    members = page(call, groups.group_members(call.tx, call.account_id, name), "Users")
    return {"Group": group_view(groups.get_group(call.tx, call.account_id, name)), **members}


@action("UpdateGroup", "iam")
def update_group(call: Call) -> None:
    groups.update_group(call.tx, call.account_id, *renaming(call, GROUP))


def _membership(name: Literal["AddUserToGroup", "RemoveUserFromGroup"]) -> Callable[[Call], None]:
    """AddUserToGroup, RemoveUserFromGroup: authorized on the group."""
    change = groups.add_user_to_group if name == "AddUserToGroup" else groups.remove_user_from_group

    def handler(call: Call) -> None:
        group_name = GROUP.read(call.params)
        user_name = validate_existing_user_name(call.params.required("UserName"))
        authorize_on(call, "Group", f"iam:{name}", group_name)
        change(call.tx, call.account_id, group_name, user_name)

    return handler


action("AddUserToGroup", "iam")(_membership("AddUserToGroup"))
action("RemoveUserFromGroup", "iam")(_membership("RemoveUserFromGroup"))


@action("ListGroupsForUser", "iam", read_only=True)
def list_groups_for_user(call: Call) -> dict[str, Any]:
    user_name = USER.authorized(call, "iam:ListGroupsForUser")
    return page(call, groups.groups_of_user(call.tx, call.account_id, user_name), "Groups")


shared.register_listing(GROUP, groups.list_groups)
shared.register_deletion(GROUP, groups.delete_group)
