"""The tree: organizational units, and what sits directly in a root or OU."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from broker.iam import orgs
from broker.iam.org_entities import Organization
from broker.services.api.organizations import views
from broker.services.api.organizations.paging import Identified, by_id
from broker.services.api.organizations.request import Request, action
from broker.services.orgs import structure
from broker.store import Tx

Item = TypeVar("Item", bound=Identified)


def _parent_id(request: Request) -> str:
    return request.authorized("ParentId", orgs.PARENT_ID)


def _ou_id(request: Request) -> str:
    return request.authorized("OrganizationalUnitId", orgs.OU_ID)


def _in_parent(
    request: Request,
    use_case: Callable[[Tx, str, object], tuple[Organization, Sequence[Item]]],
    member: str,
    view: Callable[[Organization, Item], dict[str, Any]],
) -> dict[str, Any]:
    """A listing of what sits directly in the call's ``ParentId``."""
    organization, items = request.run(use_case, _parent_id(request))
    return request.listing(member, items, by_id, partial(view, organization))


@action("CreateOrganizationalUnit")
def create_organizational_unit(request: Request) -> dict[str, Any]:
    parent_id = request.authorized("ParentId", orgs.PARENT_ID, context=request.tag_context())
    organization, ou = request.run(
        structure.create_organizational_unit, parent_id, request.get("Name"), request.get("Tags"), request.now()
    )
    return {"OrganizationalUnit": views.organizational_unit(organization, ou)}


@action("DescribeOrganizationalUnit", read_only=True)
def describe_organizational_unit(request: Request) -> dict[str, Any]:
    organization, ou = request.run(structure.describe_organizational_unit, _ou_id(request))
    return {"OrganizationalUnit": views.organizational_unit(organization, ou)}


@action("UpdateOrganizationalUnit")
def update_organizational_unit(request: Request) -> dict[str, Any]:
    ou_id = _ou_id(request)
    organization, ou = request.run(structure.update_organizational_unit, ou_id, request.get("Name"))
    return {"OrganizationalUnit": views.organizational_unit(organization, ou)}


@action("DeleteOrganizationalUnit")
def delete_organizational_unit(request: Request) -> dict[str, Any]:
    request.run(structure.delete_organizational_unit, _ou_id(request))
    return {}


@action("ListOrganizationalUnitsForParent", read_only=True)
def list_organizational_units_for_parent(request: Request) -> dict[str, Any]:
    units = structure.organizational_units_for_parent
    return _in_parent(request, units, "OrganizationalUnits", views.organizational_unit)


@action("ListAccountsForParent", read_only=True)
def list_accounts_for_parent(request: Request) -> dict[str, Any]:
    return _in_parent(request, structure.accounts_for_parent, "Accounts", views.account)


@action("ListChildren", read_only=True)
def list_children(request: Request) -> dict[str, Any]:
    children = request.run(structure.list_children, _parent_id(request), request.get("ChildType"))
    return request.listing("Children", children, by_id, views.link)


@action("ListParents", read_only=True)
def list_parents(request: Request) -> dict[str, Any]:
    parents = request.run(structure.list_parents, request.authorized("ChildId", orgs.CHILD_ID))
    return request.listing("Parents", parents, by_id, views.link)
