"""Organizational units and the tree they make: create, rename and delete OUs, list children and parents."""

from __future__ import annotations

import datetime as dt

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.org_entities import Link, Organization, OrganizationalUnit
from broker.services.orgs import lookup
from broker.store import Tx
from broker.store import orgs as store


def create_organizational_unit(
    tx: Tx, account_id: str, parent_id: object, name: object, tags: object, now: dt.datetime
) -> tuple[Organization, OrganizationalUnit]:
    organization = lookup.managed(tx, account_id, lock=True)
    name = orgs.ou_name(orgs.given(name, "Name"))
    tag_map = orgs.tags(tags)
    parent = lookup.parent(tx, organization, parent_id)
    if parent.depth + 1 > orgs.OU_MAX_DEPTH:
        raise AwsError(
            "ConstraintViolationException",
            f"OUs can be nested at most {orgs.OU_MAX_DEPTH} levels below the root.",
            reason="OU_DEPTH_LIMIT_EXCEEDED",
        )
    if store.count_organizational_units(tx, organization.id) >= orgs.OUS_PER_ORGANIZATION:
        raise AwsError(
            "ConstraintViolationException",
            f"An organization can have at most {orgs.OUS_PER_ORGANIZATION} OUs.",
            reason="OU_NUMBER_LIMIT_EXCEEDED",
        )
    _check_unique_name(tx, parent.id, name)
    root_id = parent.path.split("/")[0]
    ou_id = orgs.new_ou_id(root_id)
    ou = store.add_node(tx, ou_id, organization.id, orgs.ORGANIZATIONAL_UNIT, name, parent, tag_map, now)
    if lookup.scps_enabled(tx, organization):
        lookup.attach_default_scp(tx, organization, ou_id)
    lookup.flush_or(tx, _duplicate(name))
    return organization, ou.as_unit()


def _check_unique_name(tx: Tx, parent_id: str, name: str) -> None:
    if store.child_named(tx, parent_id, name) is not None:
        raise _duplicate(name)


def _duplicate(name: str) -> AwsError:
    return AwsError("DuplicateOrganizationalUnitException", f"An OU named {name} already exists in this parent.")


def describe_organizational_unit(tx: Tx, account_id: str, ou_id: object) -> tuple[Organization, OrganizationalUnit]:
    organization = lookup.managed(tx, account_id)
    return organization, lookup.organizational_unit(tx, organization, ou_id).as_unit()


def update_organizational_unit(
    tx: Tx, account_id: str, ou_id: object, name: object
) -> tuple[Organization, OrganizationalUnit]:
    organization = lookup.managed(tx, account_id, lock=True)
    ou = lookup.organizational_unit(tx, organization, ou_id)
    if name is not None:
        name = orgs.ou_name(name)
        if name != ou.name:
            assert ou.parent_id is not None
            _check_unique_name(tx, ou.parent_id, name)
            store.rename_node(tx, ou.id, name)
            lookup.flush_or(tx, _duplicate(name))
            return organization, OrganizationalUnit(ou.id, name)
    return organization, ou.as_unit()


def delete_organizational_unit(tx: Tx, account_id: str, ou_id: object) -> None:
    organization = lookup.managed(tx, account_id, lock=True)
    ou = lookup.organizational_unit(tx, organization, ou_id)
    if store.has_children(tx, ou.id):
        raise AwsError("OrganizationalUnitNotEmptyException")
    store.remove_node(tx, ou.id)


def organizational_units_for_parent(
    tx: Tx, account_id: str, parent_id: object
) -> tuple[Organization, list[OrganizationalUnit]]:
    organization = lookup.managed(tx, account_id)
    parent = lookup.parent(tx, organization, parent_id)
    return organization, [ou.as_unit() for ou in store.child_nodes(tx, parent.id)]


def list_children(tx: Tx, account_id: str, parent_id: object, child_type: object) -> list[Link]:
    organization = lookup.managed(tx, account_id)
    kind = orgs.enum(orgs.given(child_type, "ChildType"), "ChildType", (orgs.ACCOUNT, orgs.ORGANIZATIONAL_UNIT))
    parent = lookup.parent(tx, organization, parent_id)
    if kind == orgs.ACCOUNT:
        return [Link(member.id, orgs.ACCOUNT) for member in store.child_members(tx, parent.id)]
    return [Link(child.id, orgs.ORGANIZATIONAL_UNIT) for child in store.child_nodes(tx, parent.id)]


def list_parents(tx: Tx, account_id: str, child_id: object) -> list[Link]:
    organization = lookup.managed(tx, account_id)
    child_id = orgs.identifier(orgs.given(child_id, "ChildId"), "ChildId", orgs.CHILD_ID)
    parent_id: str | None = None
    if orgs.ACCOUNT_ID.fullmatch(child_id):
        member = store.membership(tx, child_id)
        if member is not None and member.organization_id == organization.id:
            parent_id = member.parent_id
    else:
        ou = lookup.node(tx, organization, child_id)
        if ou is not None:
            parent_id = ou.parent_id
    if parent_id is None:
        raise AwsError("ChildNotFoundException", f"We can't find an OU or account with the ChildId {child_id}.")
    parent = store.node(tx, parent_id)
    assert parent is not None
    return [Link(parent.id, parent.kind)]
