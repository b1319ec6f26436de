"""What the IAM API does alike to a user, group or role named by its kind and name: inline
policies, attached managed policies, and (users and roles) permissions boundaries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.iam.entities import Group, Role, User
from broker.services.iam import groups, inline, policies, roles, users
from broker.services.iam.paging import Entry
from broker.services.iam.views import document_out
from broker.store import Tx
from broker.store.iam.attributes import set_permissions_boundary

Principal = User | Group | Role

_GET: dict[str, Callable[[Tx, str, str], Principal]] = {
    "User": users.get_user,
    "Group": groups.get_group,
    "Role": roles.get_role,
}
_BOUNDED: dict[str, Callable[[Tx, str, str], User | Role]] = {
    "User": users.get_user,
    "Role": roles.modifiable_role,
}


def principal(tx: Tx, label: str, account_id: str, name: str) -> Principal:
    """The ``label`` ("User", "Group", "Role") named ``name``, or AWS's NoSuchEntity."""
    return _GET[label](tx, account_id, name)


def _changed(tx: Tx, label: str, account_id: str, name: str) -> Principal:
    """The principal an action changes: a service-linked role is refused (only its service changes it)."""
    if label == "Role":
        return roles.modifiable_role(tx, account_id, name)
    return principal(tx, label, account_id, name)


# --- inline policies ----------------------------------------------------------------------------


def put_inline(tx: Tx, label: str, account_id: str, name: str, policy_name: str, document: str) -> None:
    inline.put_inline_policy(tx, _changed(tx, label, account_id, name), policy_name, document)


def inline_policy_of(tx: Tx, label: str, account_id: str, name: str, policy_name: str) -> dict[str, Any]:
    """Get{User,Group,Role}Policy's result."""
    owner = principal(tx, label, account_id, name)
    found = inline.get_inline_policy(tx, owner, policy_name)
    return {f"{label}Name": owner.name, "PolicyName": found.name, "PolicyDocument": document_out(found.document)}


def inline_policy_names(tx: Tx, label: str, account_id: str, name: str) -> list[Entry[str]]:
    return [Entry(n, n) for n in inline.inline_policy_names(tx, principal(tx, label, account_id, name))]


def delete_inline(tx: Tx, label: str, account_id: str, name: str, policy_name: str) -> None:
    inline.delete_inline_policy(tx, _changed(tx, label, account_id, name), policy_name)


# --- managed policies ---------------------------------------------------------------------------


def attach_managed_policy(tx: Tx, label: str, account_id: str, name: str, policy_arn: str) -> None:
    policies.attach_policy(tx, account_id, _changed(tx, label, account_id, name), policy_arn)


def detach_managed_policy(tx: Tx, label: str, account_id: str, name: str, policy_arn: str) -> None:
    policies.detach_policy(tx, account_id, _changed(tx, label, account_id, name), policy_arn)


def attached_managed_policies(
    tx: Tx, label: str, account_id: str, name: str, path_prefix: str | None
) -> list[Entry[dict[str, str]]]:
    return policies.attached_policies(tx, principal(tx, label, account_id, name), path_prefix)


# --- permissions boundaries ---------------------------------------------------------------------


def put_permissions_boundary(tx: Tx, label: str, account_id: str, name: str, policy_arn: str) -> None:
    """``label`` is "User" or "Role"; the boundary must be a managed policy the account can use."""
    entity = _BOUNDED[label](tx, account_id, name)
    boundary = policies.boundary_policy(tx, account_id, policy_arn).arn
    _set_boundary(tx, entity, boundary)


def delete_permissions_boundary(tx: Tx, label: str, account_id: str, name: str) -> None:
    _set_boundary(tx, _BOUNDED[label](tx, account_id, name), None)


def _set_boundary(tx: Tx, entity: User | Role, policy_arn: str | None) -> None:
    if isinstance(entity, User):
        set_permissions_boundary(tx, "User", entity.user_id, policy_arn)
    else:
        set_permissions_boundary(tx, "Role", entity.role_id, policy_arn)
