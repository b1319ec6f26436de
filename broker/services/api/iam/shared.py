"""The actions several kinds of entity have alike, one implementation each, which an entity's
module registers in one line::

    register_listing(ROLE, roles.list_roles)    # ListRoles
    register_deletion(ROLE, roles.delete_role)  # DeleteRole
    register_tagging(ROLE)                      # TagRole, UntagRole, ListRoleTags
    register_permissions_boundary(ROLE)         # PutRolePermissionsBoundary, DeleteRolePermissionsBoundary
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from broker.services.api.call import Call
from broker.services.api.iam.support import (
    Target,
    authorize_on,
    authorized_user,
    boundary_context,
    list_resource,
    page,
    request_tags,
    required_members,
    required_tags,
)
from broker.services.api.registry import action
from broker.services.iam import principals, tagging
from broker.services.iam.paging import Entry, PathListing
from broker.services.iam.resources import EntityUseCase


def register_listing(target: Target, list_entities: PathListing) -> None:
    """List{Users,Groups,Roles}: the account's entities under ``PathPrefix``, a page at a time."""
    plural = f"{target.label}s"

    def handler(call: Call) -> dict[str, Any]:
        prefix = call.params.get("PathPrefix")
        call.authorize(f"iam:List{plural}", list_resource(call, target.label.lower(), prefix))
        return page(call, list_entities(call.tx, call.account_id, prefix), plural)

    action(f"List{plural}", "iam", read_only=True)(handler)


def register_user_listing(name: str, list_entities: EntityUseCase[Sequence[Entry[Any]]], list_name: str) -> None:
    """ListAccessKeys, ListMFADevices: what a user (``UserName``, or the calling user) has, a page at a time."""

    def handler(call: Call) -> dict[str, Any]:
        user_name = authorized_user(call, f"iam:{name}")
        return page(call, list_entities(call.tx, call.account_id, user_name), list_name)

    action(name, "iam", read_only=True)(handler)


def register_deletion(target: Target, delete: EntityUseCase[None]) -> None:
    """Delete{User,Group,Role,Policy,SAMLProvider}: authorized on the entity, then its use case."""

    def handler(call: Call) -> None:
        delete(call.tx, call.account_id, target.authorized(call, f"iam:Delete{target.label}"))

    action(f"Delete{target.label}", "iam")(handler)


def register_tagging(target: Target) -> None:
    label = target.label

    def tag(call: Call) -> None:
        identifier = target.read(call.params)
        tags = required_tags(call)
        authorize_on(call, label, f"iam:Tag{label}", identifier, request_tags(tags))
        tagging.tag(call.tx, label, call.account_id, identifier, tags)

    def untag(call: Call) -> None:
        identifier = target.read(call.params)
        keys = required_members(call, "TagKeys")
        authorize_on(call, label, f"iam:Untag{label}", identifier, {"aws:TagKeys": keys})
        tagging.untag(call.tx, label, call.account_id, identifier, keys)

    def list_tags(call: Call) -> dict[str, Any]:
        identifier = target.authorized(call, f"iam:List{label}Tags")
        return page(call, tagging.tags_of(call.tx, label, call.account_id, identifier), "Tags")

    action(f"Tag{label}", "iam")(tag)
    action(f"Untag{label}", "iam")(untag)
    action(f"List{label}Tags", "iam", read_only=True)(list_tags)


def register_permissions_boundary(target: Target) -> None:
    label = target.label

    def put(call: Call) -> None:
        name = target.read(call.params)
        boundary = call.params.required("PermissionsBoundary")
        authorize_on(call, label, f"iam:Put{label}PermissionsBoundary", name, boundary_context(boundary))
        principals.put_permissions_boundary(call.tx, label, call.account_id, name, boundary)

    def delete(call: Call) -> None:
        name = target.authorized(call, f"iam:Delete{label}PermissionsBoundary")
        principals.delete_permissions_boundary(call.tx, label, call.account_id, name)

    action(f"Put{label}PermissionsBoundary", "iam")(put)
    action(f"Delete{label}PermissionsBoundary", "iam")(delete)
