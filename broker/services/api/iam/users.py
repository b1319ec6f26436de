"""IAM actions on users: lifecycle, permissions boundary, tags."""

from __future__ import annotations

from typing import Any

from broker.services.api.call import Call
from broker.services.api.iam import shared
from broker.services.api.iam.support import USER, USER_64, authorized_user, creation, renaming
from broker.services.api.registry import action
from broker.services.iam import users
from broker.services.iam.views import user_view


@action("CreateUser", "iam")
def create_user(call: Call) -> dict[str, Any]:
    new = creation(call, USER)
    now = call.runtime.now()
    user = users.create_user(
        call.tx,
        call.account_id,
        new.name,
        new.path,
        now,
        tags=new.tags,
        permissions_boundary=new.permissions_boundary,
    )
    return {"User": user_view(user)}


@action("GetUser", "iam", read_only=True)
def get_user(call: Call) -> dict[str, Any]:
    name = authorized_user(call, "iam:GetUser")
    return {"User": user_view(users.get_user(call.tx, call.account_id, name))}


@action("UpdateUser", "iam")
def update_user(call: Call) -> None:
    users.update_user(call.tx, call.account_id, *renaming(call, USER))


shared.register_listing(USER, users.list_users)
shared.register_deletion(USER, users.delete_user)
shared.register_permissions_boundary(USER_64)
shared.register_tagging(USER)
