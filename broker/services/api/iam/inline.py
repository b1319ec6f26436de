"""Inline policies of users, groups and roles: Put/Get/List/Delete{User,Group,Role}Policy."""

from __future__ import annotations

from typing import Any

from broker.iam.names import validate_policy_name
from broker.services.api.call import Call
from broker.services.api.iam.support import GROUP, ROLE, USER, Target, authorize_on, page
from broker.services.api.registry import action
from broker.services.iam import principals


def _policy_name(call: Call) -> str:
    return validate_policy_name(call.params.required("PolicyName"))


def _register(target: Target) -> None:
    label = target.label

    def put(call: Call) -> None:
        name = target.read(call.params)
        policy_name = _policy_name(call)
        document = call.params.required("PolicyDocument")
        authorize_on(call, label, f"iam:Put{label}Policy", name)
        principals.put_inline(call.tx, label, call.account_id, name, policy_name, document)

    def get(call: Call) -> dict[str, Any]:
        policy_name = _policy_name(call)
        name = target.authorized(call, f"iam:Get{label}Policy")
        return principals.inline_policy_of(call.tx, label, call.account_id, name, policy_name)

    def list_names(call: Call) -> dict[str, Any]:
        name = target.authorized(call, f"iam:List{label}Policies")
        return page(call, principals.inline_policy_names(call.tx, label, call.account_id, name), "PolicyNames")

    def delete(call: Call) -> None:
        policy_name = _policy_name(call)
        name = target.authorized(call, f"iam:Delete{label}Policy")
        principals.delete_inline(call.tx, label, call.account_id, name, policy_name)

    action(f"Put{label}Policy", "iam")(put)
    action(f"Get{label}Policy", "iam", read_only=True)(get)
    action(f"List{label}Policies", "iam", read_only=True)(list_names)
    action(f"Delete{label}Policy", "iam")(delete)


for _target in (USER, GROUP, ROLE):
    _register(_target)
