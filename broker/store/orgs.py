"""What AWS Organizations keeps: organizations, their roots and OUs, memberships, policies,
policy attachments and CreateAccount's status records.

The services pass their transaction in and get plain values back (:mod:`broker.iam.org_entities`);
every write is a function here. What AWS allows or refuses is decided in the services, not here.
A root is the one node of an organization without a parent; a node's ``path`` lists the ids from
the root down to it (see :class:`broker.store.models.OrganizationNode`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import aliased, joinedload

from broker.iam import org_entities as entities
from broker.iam import orgs
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import rows

Node = models.OrganizationNode
Member = models.OrganizationAccount
Policy = models.OrganizationPolicy
Attachment = models.OrganizationPolicyAttachment
Request = models.CreateAccountRequest


def flush(tx: Tx) -> None:
    """Write the call's changes now, so a constraint fails inside the call that broke it."""
    tx.flush()


def flush_unique(tx: Tx) -> bool:
    """Flush in a savepoint; False when a unique constraint refuses it (a concurrent call got there first)."""
    return rows.save(tx)


def _count(tx: Tx, *where: ColumnElement[bool]) -> int:
    return tx.scalar(select(func.count()).where(*where)) or 0


# Rows become values here and nowhere else. ``tx.get`` of a row read earlier in the transaction
# answers from the session without a statement, so the writes below reread their row for free.


def _organization(row: models.Organization) -> entities.Organization:
    return entities.Organization(row.id, row.feature_set, row.management_account_id)


def _node(row: Node) -> entities.Node:
    policy_types = dict(row.policy_types or {})
    return entities.Node(row.id, row.organization_id, row.kind, row.name, row.parent_id, row.path, policy_types)


def _membership(row: Member) -> entities.Membership:
    return entities.Membership(row.account_id, row.organization_id, row.parent_id)


def _account(row: Member) -> entities.Account:
    account = row.account
    label = entities.account_label(account.name, account.alias, account.id)
    status = "SUSPENDED" if account.closed_at is not None else "ACTIVE"
    return entities.Account(row.account_id, label, account.email or None, row.joined_method, row.joined_at, status)


def _status(row: Request) -> entities.CreateAccountStatus:
    outcome = (row.completed_at, row.account_id or None, row.failure_reason or None)
    return entities.CreateAccountStatus(row.id, row.account_name, row.state, row.requested_at, *outcome)


def _policy(row: Policy) -> entities.Policy:
    texts = (row.name, row.description, row.content)
    return entities.Policy(row.id, row.type, *texts, row.aws_managed, row.organization_id)


# --- organizations and memberships --------------------------------------------------------------


def membership(tx: Tx, account_id: str) -> entities.Membership | None:
    row = tx.get(Member, account_id)
    return _membership(row) if row is not None else None


def organization(tx: Tx, org_id: str) -> entities.Organization | None:
    row = tx.get(models.Organization, org_id)
    return _organization(row) if row is not None else None


def lock_organization(tx: Tx, org_id: str) -> entities.Organization | None:
    """Reread the organization and hold its row until the transaction ends, so the changes to
    one organization run one at a time (SQLite's writers are serialized already)."""
    row = tx.get(models.Organization, org_id, with_for_update=True, populate_existing=True)
    return _organization(row) if row is not None else None


def add_organization(
    tx: Tx, org_id: str, management_account_id: str, feature_set: str, now: dt.datetime
) -> entities.Organization:
    row = models.Organization(
        id=org_id, management_account_id=management_account_id, feature_set=feature_set, created_at=now
    )
    tx.add(row)
    return _organization(row)


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


def move_member(tx: Tx, account_id: str, parent_id: str) -> None:
    row = tx.get(Member, account_id)
    assert row is not None, "the caller found the membership"
    row.parent_id = parent_id
    tx.flush()


def count_members(tx: Tx, org_id: str, *, besides: str | None = None) -> int:
    where = [Member.organization_id == org_id]
    if besides is not None:
        where.append(Member.account_id != besides)
    return _count(tx, *where)


def members(tx: Tx, org_id: str) -> list[entities.Account]:
    """The organization's accounts in id order."""
    return _members(tx, Member.organization_id == org_id)


def child_members(tx: Tx, parent_id: str) -> list[entities.Account]:
    """The accounts directly in a root or OU, in id order."""
    return _members(tx, Member.parent_id == parent_id)


def members_among(tx: Tx, org_id: str, account_ids: Sequence[str]) -> list[entities.Account]:
    return _members(tx, Member.organization_id == org_id, Member.account_id.in_(account_ids))


def _members(tx: Tx, *where: ColumnElement[bool]) -> list[entities.Account]:
    query = select(Member).options(joinedload(Member.account)).where(*where).order_by(Member.account_id)
    return [_account(row) for row in tx.scalars(query)]


def remove_organization(tx: Tx, org_id: str) -> None:
    """Delete the organization with its policies, attachments, status records, memberships and nodes."""
    row = tx.get(models.Organization, org_id)
    assert row is not None, "the caller found the organization"
    for model in (Attachment, Policy, Request, Member):
        tx.execute(delete(model).where(model.organization_id == org_id))
    nodes = tx.scalars(select(Node).where(Node.organization_id == org_id)).all()
    for item in sorted(nodes, key=lambda node: node.path.count("/"), reverse=True):  # children before parents
        tx.delete(item)
        tx.flush()
    tx.delete(row)
    tx.flush()


# --- roots and OUs ------------------------------------------------------------------------------


def node(tx: Tx, node_id: str) -> entities.Node | None:
    row = tx.get(Node, node_id)
    return _node(row) if row is not None else None


def root(tx: Tx, org_id: str) -> entities.Node | None:
    row = tx.scalar(select(Node).where(Node.organization_id == org_id, Node.parent_id.is_(None)))
    return _node(row) if row is not None else None


def add_node(
    tx: Tx,
    node_id: str,
    org_id: str,
    kind: str,
    name: str,
    parent: entities.Node | None,
    tags: dict[str, str],
    now: dt.datetime,
) -> entities.Node:
    row = Node(id=node_id, organization_id=org_id, kind=kind, name=name, tags=tags, created_at=now)
    # The root has no parent; an OU's path extends its parent's (OUs never move).
    row.parent_id, row.path = (None, node_id) if parent is None else (parent.id, f"{parent.path}/{node_id}")
    row.policy_types = {}
    tx.add(row)
    return _node(row)


def rename_node(tx: Tx, node_id: str, name: str) -> None:
    """Rename an OU; the caller flushes (a concurrent rename to the same name fails there)."""
    row = tx.get(Node, node_id)
    assert row is not None, "the caller found the OU"
    row.name = name


def set_policy_types(tx: Tx, root_id: str, policy_types: Mapping[str, str]) -> entities.Node:
    """Replace a root's policy types (type -> status)."""
    row = tx.get(Node, root_id)
    assert row is not None, "the caller found the root"
    row.policy_types = dict(policy_types)
    return _node(row)


def count_organizational_units(tx: Tx, org_id: str) -> int:
    return _count(tx, Node.organization_id == org_id, Node.parent_id.is_not(None))


def child_named(tx: Tx, parent_id: str, name: str) -> str | None:
    """The id of the OU called ``name`` directly under the parent, if there is one."""
    return tx.scalar(select(Node.id).where(Node.parent_id == parent_id, Node.name == name))


def child_nodes(tx: Tx, parent_id: str) -> list[entities.Node]:
    return [_node(row) for row in tx.scalars(select(Node).where(Node.parent_id == parent_id).order_by(Node.id))]


def has_children(tx: Tx, node_id: str) -> bool:
    child = tx.scalar(select(Node.id).where(Node.parent_id == node_id).limit(1))
    return bool(child or tx.scalar(select(Member.account_id).where(Member.parent_id == node_id).limit(1)))


def remove_node(tx: Tx, node_id: str) -> None:
    """Delete an OU and the policy attachments that name it."""
    row = tx.get(Node, node_id)
    assert row is not None, "the caller found the OU"
    tx.execute(
        delete(Attachment).where(Attachment.organization_id == row.organization_id, Attachment.target_id == row.id)
    )
    tx.delete(row)
    tx.flush()


def nodes_among(tx: Tx, org_id: str, node_ids: Sequence[str]) -> list[entities.Node]:
    query = select(Node).where(Node.id.in_(node_ids), Node.organization_id == org_id)
    return [_node(row) for row in tx.scalars(query)]


def target_ids(tx: Tx, org_id: str) -> list[str]:
    """Every root, OU and account of the organization."""
    nodes = tx.scalars(select(Node.id).where(Node.organization_id == org_id))
    accounts = tx.scalars(select(Member.account_id).where(Member.organization_id == org_id))
    return [*nodes, *accounts]


# --- tags ---------------------------------------------------------------------------------------


def _taggable_row(tx: Tx, resource_id: str) -> Member | Policy | Node | None:
    """The membership, policy or node an id names, told apart by the id's form."""
    if orgs.ACCOUNT_ID.fullmatch(resource_id):
        return tx.get(Member, resource_id)
    if resource_id.startswith("p-"):
        return tx.get(Policy, resource_id)
    return tx.get(Node, resource_id)


class Tagged(NamedTuple):
    """A root, OU, account or policy a tag call names: its organization (None for an AWS managed
    policy) and its tags."""

    id: str
    organization_id: str | None
    tags: dict[str, str]


def tagged(tx: Tx, resource_id: str) -> Tagged | None:
    """The root, OU, member account or policy with this id, and its tags."""
    row = _taggable_row(tx, resource_id)
    if row is None:
        return None
    return Tagged(resource_id, row.organization_id, dict(row.tags or {}))


def set_tags(tx: Tx, resource_id: str, tags: Mapping[str, str]) -> None:
    row = _taggable_row(tx, resource_id)
    assert row is not None, "the caller found the resource"
    row.tags = dict(tags)
    tx.flush()


# --- accounts CreateAccount makes ---------------------------------------------------------------


def email_in_use(tx: Tx, email: str) -> bool:
    """Whether any account has this email, compared without case."""
    found = tx.scalar(select(models.Account.id).where(func.lower(models.Account.email) == email.lower()).limit(1))
    return found is not None


def add_account(tx: Tx, account_id: str, name: str, email: str, now: dt.datetime) -> None:
    tx.add(models.Account(id=account_id, alias=None, name=name, email=email, created_at=now))
    tx.flush()


def add_create_account_request(tx: Tx, request_id: str, org_id: str, account_name: str, now: dt.datetime) -> None:
    tx.add(
        Request(id=request_id, organization_id=org_id, account_name=account_name, state="IN_PROGRESS", requested_at=now)
    )


def finish_create_account_request(
    tx: Tx,
    request_id: str,
    *,
    completed_at: dt.datetime,
    account_id: str | None = None,
    failure_reason: str | None = None,
) -> entities.CreateAccountStatus:
    """Record how CreateAccount ended: SUCCEEDED with the new account, or FAILED with AWS's reason."""
    row = tx.get(Request, request_id)
    assert row is not None, "the caller added the request"
    row.state = "FAILED" if failure_reason is not None else "SUCCEEDED"
    row.account_id, row.failure_reason, row.completed_at = account_id, failure_reason, completed_at
    tx.flush()
    return _status(row)


def create_account_request(tx: Tx, org_id: str, request_id: str) -> entities.CreateAccountStatus | None:
    """The organization's CreateAccount record with this id (another organization's is not found)."""
    row = tx.get(Request, request_id)
    return _status(row) if row is not None and row.organization_id == org_id else None


def create_account_requests(tx: Tx, org_id: str) -> list[entities.CreateAccountStatus]:
    """The organization's CreateAccount records, oldest first."""
    query = select(Request).where(Request.organization_id == org_id).order_by(Request.requested_at, Request.id)
    return [_status(row) for row in tx.scalars(query)]


# --- policies and attachments -------------------------------------------------------------------


def _visible_to(org_id: str) -> ColumnElement[bool]:
    """The organization's own policies and the AWS managed ones every organization shares."""
    return (Policy.organization_id == org_id) | (Policy.aws_managed.is_(True))


def policy(tx: Tx, policy_id: str) -> entities.Policy | None:
    row = tx.get(Policy, policy_id)
    return _policy(row) if row is not None else None


def policy_named(tx: Tx, org_id: str, policy_type: str, name: str) -> str | None:
    """The id of the policy of this type and name the organization sees, if there is one."""
    query = select(Policy.id).where(_visible_to(org_id), Policy.type == policy_type, Policy.name == name)
    return tx.scalar(query)


def count_policies(tx: Tx, org_id: str) -> int:
    return _count(tx, Policy.organization_id == org_id)


def policies(tx: Tx, org_id: str, policy_type: str) -> list[entities.Policy]:
    """The policies of this type the organization sees, in id order."""
    query = select(Policy).where(_visible_to(org_id), Policy.type == policy_type).order_by(Policy.id)
    return [_policy(row) for row in tx.scalars(query)]


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
) -> entities.Policy:
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
    return _policy(row)


def update_policy(
    tx: Tx, policy_id: str, *, name: str | None, description: str | None, content: str | None
) -> entities.Policy:
    """Change what is given (None keeps the field) and write it now."""
    row = tx.get(Policy, policy_id)
    assert row is not None, "the caller found the policy"
    if name is not None:
        row.name = name
    if description is not None:
        row.description = description
    if content is not None:
        row.content = content
    tx.flush()
    return _policy(row)


def remove_policy(tx: Tx, policy_id: str) -> None:
    row = tx.get(Policy, policy_id)
    assert row is not None, "the caller found the policy"
    tx.delete(row)
    tx.flush()


def attachments(
    tx: Tx, org_id: str, *, policy_id: str | None = None, target_id: str | None = None
) -> list[entities.PolicyAttachment]:
    query = select(Attachment).where(Attachment.organization_id == org_id)
    if policy_id is not None:
        query = query.where(Attachment.policy_id == policy_id)
    if target_id is not None:
        query = query.where(Attachment.target_id == target_id)
    return [entities.PolicyAttachment(row.policy_id, row.target_id) for row in tx.scalars(query)]


def attached_policies(tx: Tx, org_id: str, target_id: str, policy_type: str) -> list[entities.Policy]:
    """The policies of this type attached to a root, OU or account, in id order."""
    query = (
        select(Policy)
        .join(Attachment, Attachment.policy_id == Policy.id)
        .where(Attachment.organization_id == org_id, Attachment.target_id == target_id, Policy.type == policy_type)
    )
    return [_policy(row) for row in sorted(tx.scalars(query), key=lambda row: row.id)]


def attach(tx: Tx, org_id: str, policy_id: str, target_id: str) -> None:
    tx.add(Attachment(organization_id=org_id, policy_id=policy_id, target_id=target_id))


def detach(tx: Tx, org_id: str, policy_id: str, target_id: str) -> None:
    row = tx.get(Attachment, (org_id, policy_id, target_id))
    assert row is not None, "the caller found the attachment"
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
