"""Inline policies of users, groups and roles: Put/Get/List/Delete{User,Group,Role}Policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.iam.names import validate_group_name, validate_policy_name, validate_role_name, validate_user_name
from broker.services.api.call import Call
from broker.services.api.iam.support import authorize_on_group, authorize_on_role, authorize_on_user, page
from broker.services.api.registry import action
from broker.services.iam import groups, inline, roles, users
from broker.services.iam.views import document_out

Owner = inline.Owner


class _Kind:
    """How one kind of owner is named, validated, authorized and looked up."""

    def __init__(
        self,
        label: str,
        parameter: str,
        validate: Callable[[str], str],
        authorize: Callable[[Call, str, str], object],
        fetch: Callable[[Call, str], Owner],
    ) -> None:
        self.label = label
        self.parameter = parameter
        self.validate = validate
        self.authorize = authorize
        self.fetch = fetch


_KINDS = {
    "User": _Kind(
        "User",
        "UserName",
        validate_user_name,
        lambda call, action, name: authorize_on_user(call, action, name),
        lambda call, name: users.get_user(call.session, call.account_id, name),
    ),
    "Group": _Kind(
        "Group",
        "GroupName",
        validate_group_name,
        lambda call, action, name: authorize_on_group(call, action, name),
        lambda call, name: groups.get_group(call.session, call.account_id, name),
    ),
    "Role": _Kind(
        "Role",
        "RoleName",
        validate_role_name,
        lambda call, action, name: authorize_on_role(call, action, name),
        lambda call, name: roles.get_role(call.session, call.account_id, name),
    ),
}


def _owner(call: Call, kind: _Kind, verb: str) -> Owner:
    name = kind.validate(call.params.required(kind.parameter))
    kind.authorize(call, f"iam:{verb}{kind.label}Policy", name)
    return kind.fetch(call, name)


def _put(call: Call, kind: _Kind) -> None:
    name = kind.validate(call.params.required(kind.parameter))
    policy_name = validate_policy_name(call.params.required("PolicyName"))
    document = call.params.required("PolicyDocument")
    kind.authorize(call, f"iam:Put{kind.label}Policy", name)
    inline.put_inline_policy(call.session, kind.fetch(call, name), policy_name, document)


def _get(call: Call, kind: _Kind) -> dict[str, Any]:
    policy_name = validate_policy_name(call.params.required("PolicyName"))
    owner = _owner(call, kind, "Get")
    found = inline.get_inline_policy(owner, policy_name)
    return {kind.parameter: owner.name, "PolicyName": found.name, "PolicyDocument": document_out(found.document)}


def _list(call: Call, kind: _Kind) -> dict[str, Any]:
    owner = _owner(call, kind, "List")
    return page(call, inline.inline_policy_names(owner), lambda name: name, "PolicyNames", lambda name: name)


def _delete(call: Call, kind: _Kind) -> None:
    policy_name = validate_policy_name(call.params.required("PolicyName"))
    owner = _owner(call, kind, "Delete")
    inline.delete_inline_policy(call.session, owner, policy_name)


def _register(label: str) -> None:
    kind = _KINDS[label]

    def put(call: Call) -> None:
        _put(call, kind)

    def get(call: Call) -> dict[str, Any]:
        return _get(call, kind)

    def list_names(call: Call) -> dict[str, Any]:
        return _list(call, kind)

    def delete(call: Call) -> None:
        _delete(call, kind)

    action(f"Put{label}Policy", "iam")(put)
    action(f"Get{label}Policy", "iam", read_only=True)(get)
    action(f"List{label}Policies", "iam", read_only=True)(list_names)
    action(f"Delete{label}Policy", "iam")(delete)


for _label in _KINDS:
    _register(_label)
