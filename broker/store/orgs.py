"""What AWS Organizations keeps: organizations, their roots and OUs, memberships, policies,
policy attachments and CreateAccount's status records.

The services pass their transaction in; what AWS allows or refuses is decided there, not here.
A root is the one node of an organization without a parent; a node's ``path`` lists the ids from
the root down to it (see :class:`broker.store.models.OrganizationNode`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import aliased, joinedload

from broker.store import models
from broker.store.db import Tx
from broker.store.iam import rows

Node = models.OrganizationNode
Member = models.OrganizationAccount
Policy = models.OrganizationPolicy
Attachment = models.OrganizationPolicyAttachment


def flush(tx: Tx) -> None:
    """Write the call's changes now, so a constraint fails inside the call that broke it."""
    tx.flush()


def flush_unique(tx: Tx) -> bool:
    """Flush in a savepoint; False when a unique constraint refuses it (a concurrent call got there first)."""
    return rows.save(tx)


def _count(tx: Tx, *where: ColumnElement[bool]) -> int:
    return tx.scalar(select(func.count()).where(*where)) or 0


# --- organizations and memberships --------------------------------------------------------------


def membership(tx: Tx, account_id: str) -> Member | None:
    return tx.get(Member, account_id)


def organization(tx: Tx, org_id: str, *, lock: bool = False) -> models.Organization | None:
    """``lock`` rereads the row and holds it until the transaction ends, so the changes to one
    organization run one at a time (SQLite's writers are serialized already)."""
    if lock:
        return tx.get(models.Organization, org_id, with_for_update=True, populate_existing=True)
    return tx.get(models.Organization, org_id)


def add_organization(
    tx: Tx, org_id: str, management_account_id: str, feature_set: str, now: dt.datetime
) -> models.Organization:
    row = models.Organization(
        id=org_id, management_account_id=management_account_id, feature_set=feature_set, created_at=now
    )
    tx.add(row)
    return row


def add_member(
    tx: Tx, org_id: str, account_id: str, parent_id: str, joined_method: str, tags: dict[str, str], now: dt.datetime
) -> None:
    tx.add(
        Member(
            account_id=account_id,
            organization_id=org_id,
            parent_id=parent_id,
            joined_method=joined_method,
            joined_at=now,
            tags=tags,
        )
    )


def count_members(tx: Tx, org_id: str, *, besides: str | None = None) -> int:
    where = [Member.organization_id == org_id]
    if besides is not None:
        where.append(Member.account_id != besides)
    return _count(tx, *where)


def members(tx: Tx, org_id: str) -> list[Member]:
    """The organization's accounts in id order, each with its account record."""
    return _members(tx, Member.organization_id == org_id)


def child_members(tx: Tx, parent_id: str) -> list[Member]:
    """The accounts directly in a root or OU, in id order."""
    return _members(tx, Member.parent_id == parent_id)


def members_among(tx: Tx, org_id: str, account_ids: Sequence[str]) -> list[Member]:
    return _members(tx, Member.organization_id == org_id, Member.account_id.in_(account_ids))


def _members(tx: Tx, *where: ColumnElement[bool]) -> list[Member]:
    query = select(Member).options(joinedload(Member.account)).where(*where).order_by(Member.account_id)
    return list(tx.scalars(query))


def remove_organization(tx: Tx, row: models.Organization) -> None:
    """Delete the organization with its policies, attachments, status records, memberships and nodes."""
    org_id = row.id
    for model in (Attachment, Policy, models.CreateAccountRequest, Member):
        tx.execute(delete(model).where(model.organization_id == org_id))
    nodes = tx.scalars(select(Node).where(Node.organization_id == org_id)).all()
    for item in sorted(nodes, key=depth, reverse=True):  # children before their parents
        tx.delete(item)
        tx.flush()
    tx.delete(row)
    tx.flush()


# --- roots and OUs ------------------------------------------------------------------------------


def depth(node: Node) -> int:
    """0 for the root, 1 for an OU directly under it..."""
    return node.path.count("/")


def node(tx: Tx, node_id: str) -> Node | None:
    return tx.get(Node, node_id)


def root(tx: Tx, org_id: str) -> Node | None:
    return tx.scalar(select(Node).where(Node.organization_id == org_id, Node.parent_id.is_(None)))


def add_node(
    tx: Tx,
    node_id: str,
    org_id: str,
    kind: str,
    name: str,
    parent: Node | None,
    tags: dict[str, str],
    now: dt.datetime,
) -> Node:
    row = Node(id=node_id, organization_id=org_id, kind=kind, name=name, tags=tags, created_at=now)
    # The root has no parent; an OU's path extends its parent's (OUs never move).
    row.parent_id, row.path = (None, node_id) if parent is None else (parent.id, f"{parent.path}/{node_id}")
    row.policy_types = {}
    tx.add(row)
    return row


def count_organizational_units(tx: Tx, org_id: str) -> int:
    return _count(tx, Node.organization_id == org_id, Node.parent_id.is_not(None))


def child_named(tx: Tx, parent_id: str, name: str) -> str | None:
    """The id of the OU called ``name`` directly under the parent, if there is one."""
    return tx.scalar(select(Node.id).where(Node.parent_id == parent_id, Node.name == name))


def child_nodes(tx: Tx, parent_id: str) -> list[Node]:
    return list(tx.scalars(select(Node).where(Node.parent_id == parent_id).order_by(Node.id)))


def has_children(tx: Tx, node_id: str) -> bool:
    child = tx.scalar(select(Node.id).where(Node.parent_id == node_id).limit(1))
    return bool(child or tx.scalar(select(Member.account_id).where(Member.parent_id == node_id).limit(1)))


def remove_node(tx: Tx, row: Node) -> None:
    """Delete an OU and the policy attachments that name it."""
    tx.execute(
        delete(Attachment).where(Attachment.organization_id == row.organization_id, Attachment.target_id == row.id)
    )
    tx.delete(row)
    tx.flush()


def nodes_among(tx: Tx, org_id: str, node_ids: Sequence[str]) -> list[Node]:
    return list(tx.scalars(select(Node).where(Node.id.in_(node_ids), Node.organization_id == org_id)))


def target_ids(tx: Tx, org_id: str) -> list[str]:
    """Every root, OU and account of the organization."""
    nodes = tx.scalars(select(Node.id).where(Node.organization_id == org_id))
    accounts = tx.scalars(select(Member.account_id).where(Member.organization_id == org_id))
    return [*nodes, *accounts]


# --- accounts CreateAccount makes ---------------------------------------------------------------


def email_in_use(tx: Tx, email: str) -> bool:
    """Whether any account has this email, compared without case."""
    found = tx.scalar(select(models.Account.id).where(func.lower(models.Account.email) == email.lower()).limit(1))
    return found is not None


def add_account(tx: Tx, account_id: str, name: str, email: str, now: dt.datetime) -> None:
    tx.add(models.Account(id=account_id, alias=None, name=name, email=email, created_at=now))
    tx.flush()


def add_create_account_request(
    tx: Tx, request_id: str, org_id: str, account_name: str, now: dt.datetime
) -> models.CreateAccountRequest:
    row = models.CreateAccountRequest(
        id=request_id, organization_id=org_id, account_name=account_name, state="IN_PROGRESS", requested_at=now
    )
    tx.add(row)
    return row


def create_account_request(tx: Tx, request_id: str) -> models.CreateAccountRequest | None:
    return tx.get(models.CreateAccountRequest, request_id)


def create_account_requests(tx: Tx, org_id: str) -> list[models.CreateAccountRequest]:
    """The organization's CreateAccount records, oldest first."""
    request = models.CreateAccountRequest
    query = select(request).where(request.organization_id == org_id).order_by(request.requested_at, request.id)
    return list(tx.scalars(query))


# --- policies and attachments -------------------------------------------------------------------


def _visible_to(org_id: str) -> ColumnElement[bool]:
    """The organization's own policies and the AWS managed ones every organization shares."""
    return (Policy.organization_id == org_id) | (Policy.aws_managed.is_(True))


def policy(tx: Tx, policy_id: str) -> Policy | None:
    return tx.get(Policy, policy_id)


def policy_named(tx: Tx, org_id: str, policy_type: str, name: str) -> str | None:
    """The id of the policy of this type and name the organization sees, if there is one."""
    query = select(Policy.id).where(_visible_to(org_id), Policy.type == policy_type, Policy.name == name)
    return tx.scalar(query)


def count_policies(tx: Tx, org_id: str) -> int:
    return _count(tx, Policy.organization_id == org_id)


def policies(tx: Tx, org_id: str, policy_type: str) -> list[Policy]:
    """The policies of this type the organization sees, in id order."""
    query = select(Policy).where(_visible_to(org_id), Policy.type == policy_type).order_by(Policy.id)
    return list(tx.scalars(query))


def add_policy(
    tx: Tx,
    policy_id: str,
    org_id: str,
    policy_type: str,
    name: str,
    description: str,
    content: str,
    tags: dict[str, str],
    now: dt.datetime,
) -> Policy:
    row = Policy(
        id=policy_id,
        organization_id=org_id,
        type=policy_type,
        name=name,
        description=description,
        content=content,
        aws_managed=False,
        tags=tags,
        created_at=now,
    )
    tx.add(row)
    return row


def remove_policy(tx: Tx, row: Policy) -> None:
    tx.delete(row)
    tx.flush()


def attachments(tx: Tx, org_id: str, *, policy_id: str | None = None, target_id: str | None = None) -> list[Attachment]:
    query = select(Attachment).where(Attachment.organization_id == org_id)
    if policy_id is not None:
        query = query.where(Attachment.policy_id == policy_id)
    if target_id is not None:
        query = query.where(Attachment.target_id == target_id)
    return list(tx.scalars(query))


def attached_policies(tx: Tx, org_id: str, target_id: str, policy_type: str) -> list[Policy]:
    """The policies of this type attached to a root, OU or account, in id order."""
    query = (
        select(Policy)
        .join(Attachment, Attachment.policy_id == Policy.id)
        .where(Attachment.organization_id == org_id, Attachment.target_id == target_id, Policy.type == policy_type)
    )
    return sorted(tx.scalars(query), key=lambda row: row.id)


def attach(tx: Tx, org_id: str, policy_id: str, target_id: str) -> None:
    tx.add(Attachment(organization_id=org_id, policy_id=policy_id, target_id=target_id))


def detach(tx: Tx, row: Attachment) -> None:
    tx.delete(row)
    tx.flush()


def detach_all(tx: Tx, org_id: str) -> None:
    tx.execute(delete(Attachment).where(Attachment.organization_id == org_id))
    tx.flush()


# --- what decisions read ------------------------------------------------------------------------


class Placement(NamedTuple):
    """Where an account sits; the organization's fields are None only if its data is inconsistent."""

    org_id: str
    management_account_id: str | None
    parent_path: str | None
    root_policy_types: dict[str, str] | None


def placement(tx: Tx, account_id: str) -> Placement | None:
    """The account's organization, management account, parent's path and root's policy types, in one read."""
    parent, root_node = aliased(Node), aliased(Node)
    found = tx.execute(
        select(Member.organization_id, models.Organization.management_account_id, parent.path, root_node.policy_types)
        .select_from(Member)
        .outerjoin(models.Organization, models.Organization.id == Member.organization_id)
        .outerjoin(parent, parent.id == Member.parent_id)
        .outerjoin(root_node, and_(root_node.organization_id == Member.organization_id, root_node.parent_id.is_(None)))
        .where(Member.account_id == account_id)
    ).first()
    return None if found is None else Placement(*found)


class AttachedPolicy(NamedTuple):
    target_id: str
    policy_id: str
    content: str
    aws_managed: bool


def policies_attached_to(tx: Tx, org_id: str, target_ids: Sequence[str], policy_type: str) -> list[AttachedPolicy]:
    """Each attachment of a policy of this type to one of the targets, by target id then policy id."""
    rows = tx.execute(
        select(Attachment.target_id, Policy.id, Policy.content, Policy.aws_managed)
        .join(Policy, Policy.id == Attachment.policy_id)
        .where(Attachment.organization_id == org_id, Attachment.target_id.in_(target_ids), Policy.type == policy_type)
    ).all()
    # Sorted here, not by the database, so the order is the same whatever its collation.
    return sorted(AttachedPolicy(*row) for row in rows)
