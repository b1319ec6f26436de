"""IAM actions on roles: lifecycle, trust policy, permissions boundary, tags."""

from __future__ import annotations

from typing import Any

from broker.services.api.call import Call
from broker.services.api.iam import shared
from broker.services.api.iam.support import ROLE, authorize_on, creation
from broker.services.api.registry import action
from broker.services.iam import roles
from broker.services.iam.views import role_view


@action("CreateRole", "iam")
def create_role(call: Call) -> dict[str, Any]:
    new = creation(call, ROLE)
    role = roles.create_role(
        call.tx,
        call.account_id,
        name=new.name,
        trust_policy=call.params.required("AssumeRolePolicyDocument"),
        path=new.path,
        description=call.params.get("Description"),
        max_session_duration=call.params.integer("MaxSessionDuration"),
        permissions_boundary=new.permissions_boundary,
        tags=new.tags,
        now=call.runtime.now(),
    )
    return {"Role": role_view(role, created=True)}


@action("GetRole", "iam", read_only=True)
def get_role(call: Call) -> dict[str, Any]:
    name = ROLE.authorized(call, "iam:GetRole")
    return {"Role": role_view(roles.get_role(call.tx, call.account_id, name))}


@action("UpdateRole", "iam")
def update_role(call: Call) -> dict[str, Any]:
    name = ROLE.authorized(call, "iam:UpdateRole")
    description = call.params.get("Description")
    roles.update_role(call.tx, call.account_id, name, description, call.params.integer("MaxSessionDuration"))
    return {}


@action("UpdateRoleDescription", "iam")
def update_role_description(call: Call) -> dict[str, Any]:
    name = ROLE.read(call.params)
    description = call.params.get("Description")
    if description is None:
        description = call.params.required("Description")
    authorize_on(call, "Role", "iam:UpdateRoleDescription", name)
    return {"Role": role_view(roles.update_role(call.tx, call.account_id, name, description, None))}


@action("UpdateAssumeRolePolicy", "iam")
def update_assume_role_policy(call: Call) -> None:
    name = ROLE.authorized(call, "iam:UpdateAssumeRolePolicy")
    roles.update_assume_role_policy(call.tx, call.account_id, name, call.params.required("PolicyDocument"))


shared.register_listing(ROLE, roles.list_roles)
shared.register_deletion(ROLE, roles.delete_role)
shared.register_permissions_boundary(ROLE)
shared.register_tagging(ROLE)
