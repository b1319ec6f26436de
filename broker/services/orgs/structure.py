"""Organizations: the organization, its root and OUs, its accounts, and where each account sits.

Every use case takes the calling account and answers as AWS does: an account outside any
organization gets ``AWSOrganizationsNotInUseException``; a member account asking for what only the
management account may do gets ``AccessDeniedException``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from broker.iam import arn as iam_arns
from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.ids import new_account_id
from broker.services.iam import policies as iam_policies
from broker.services.iam import roles as iam_roles
from broker.services.orgs.context import scp_enabled
from broker.store import models
from broker.store import repositories as repo

_NOT_MANAGEMENT = "You don't have permissions to access this resource. Only the organization's management account can."


# --- the caller's organization ------------------------------------------------------------------


def membership(session: Session, account_id: str) -> models.OrganizationAccount | None:
    return session.get(models.OrganizationAccount, account_id)


def organization_of(session: Session, account_id: str) -> models.Organization:
    """The organization the account belongs to, or AWS's "not in use" error."""
    member = membership(session, account_id)
    organization = session.get(models.Organization, member.organization_id) if member is not None else None
    if organization is None:
        raise AwsError("AWSOrganizationsNotInUseException")
    return organization


def managed_organization(session: Session, account_id: str, *, for_update: bool = False) -> models.Organization:
    """The organization the account manages; member accounts are refused.

    ``for_update`` locks the organization's row until the transaction ends, so the changes to one
    organization run one at a time (limits such as five SCPs per target, or at least one, hold
    under concurrent calls on PostgreSQL; SQLite's writers are serialized already).
    """
    organization = organization_of(session, account_id)
    if organization.management_account_id != account_id:
        raise AwsError("AccessDeniedException", _NOT_MANAGEMENT)
    if for_update:
        locked = session.get(models.Organization, organization.id, with_for_update=True, populate_existing=True)
        assert locked is not None
        return locked
    return organization


def flush_or(session: Session, error: AwsError) -> None:
    """Flush in a savepoint; a unique constraint hit by a concurrent call becomes ``error``."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise error from None


def root_of(session: Session, organization: models.Organization) -> models.OrganizationNode:
    root = session.scalar(
        select(models.OrganizationNode).where(
            models.OrganizationNode.organization_id == organization.id, models.OrganizationNode.kind == orgs.ROOT
        )
    )
    assert root is not None, "an organization always has its root"
    return root


# --- nodes: the root and OUs --------------------------------------------------------------------


def node(session: Session, organization: models.Organization, node_id: str) -> models.OrganizationNode | None:
    found = session.get(models.OrganizationNode, node_id)
    return found if found is not None and found.organization_id == organization.id else None


def parent_node(session: Session, organization: models.Organization, parent_id: object) -> models.OrganizationNode:
    parent_id = orgs.identifier(orgs.given(parent_id, "ParentId"), "ParentId", orgs.PARENT_ID)
    found = node(session, organization, parent_id)
    if found is None:
        raise AwsError("ParentNotFoundException", f"We can't find a root or OU with the ParentId {parent_id}.")
    return found


def organizational_unit(session: Session, organization: models.Organization, ou_id: object) -> models.OrganizationNode:
    ou_id = orgs.identifier(orgs.given(ou_id, "OrganizationalUnitId"), "OrganizationalUnitId", orgs.OU_ID)
    found = node(session, organization, ou_id)
    if found is None or found.kind != orgs.ORGANIZATIONAL_UNIT:
        raise AwsError("OrganizationalUnitNotFoundException", f"We can't find an OU with the id {ou_id}.")
    return found


def depth(node_: models.OrganizationNode) -> int:
    """0 for the root, 1 for an OU directly under it..."""
    return node_.path.count("/")


def create_organization(
    session: Session, account_id: str, feature_set: object, now: dt.datetime
) -> models.Organization:
    feature = orgs.enum(feature_set if feature_set is not None else "ALL", "FeatureSet", orgs.FEATURE_SETS)
    if membership(session, account_id) is not None:
        raise AwsError("AlreadyInOrganizationException")
    repo.ensure_account(session, account_id, now=now)
    organization = models.Organization(
        id=orgs.new_organization_id(), management_account_id=account_id, feature_set=feature, created_at=now
    )
    session.add(organization)
    root_id = orgs.new_root_id()
    session.add(
        models.OrganizationNode(
            id=root_id,
            organization_id=organization.id,
            kind=orgs.ROOT,
            name="Root",
            parent_id=None,
            path=root_id,
            policy_types={},
            tags={},
            created_at=now,
        )
    )
    flush_or(session, AwsError("AlreadyInOrganizationException"))
    _join(session, organization, account_id, root_id, {}, now)
    flush_or(session, AwsError("AlreadyInOrganizationException"))
    return organization


def _join(
    session: Session,
    organization: models.Organization,
    account_id: str,
    parent_id: str,
    tags: dict[str, str],
    now: dt.datetime,
) -> None:
    session.add(
        models.OrganizationAccount(
            account_id=account_id,
            organization_id=organization.id,
            parent_id=parent_id,
            joined_method="CREATED",
            joined_at=now,
            tags=tags,
        )
    )


def delete_organization(session: Session, account_id: str) -> None:
    organization = managed_organization(session, account_id, for_update=True)
    members = session.scalar(
        select(func.count()).where(
            models.OrganizationAccount.organization_id == organization.id,
            models.OrganizationAccount.account_id != account_id,
        )
    )
    if members:
        raise AwsError("OrganizationNotEmptyException")
    org_id = organization.id
    session.execute(
        delete(models.OrganizationPolicyAttachment).where(models.OrganizationPolicyAttachment.organization_id == org_id)
    )
    session.execute(delete(models.OrganizationPolicy).where(models.OrganizationPolicy.organization_id == org_id))
    session.execute(delete(models.CreateAccountRequest).where(models.CreateAccountRequest.organization_id == org_id))
    session.execute(delete(models.OrganizationAccount).where(models.OrganizationAccount.organization_id == org_id))
    nodes = session.scalars(
        select(models.OrganizationNode).where(models.OrganizationNode.organization_id == org_id)
    ).all()
    for item in sorted(nodes, key=depth, reverse=True):  # children before their parents
        session.delete(item)
        session.flush()
    session.delete(organization)
    session.flush()


def attach_default_scp(session: Session, organization: models.Organization, target_id: str) -> None:
    """New roots, OUs and accounts get FullAWSAccess while SCPs are enabled, as in AWS."""
    session.add(
        models.OrganizationPolicyAttachment(
            organization_id=organization.id, policy_id=orgs.FULL_AWS_ACCESS_ID, target_id=target_id
        )
    )


def scps_enabled(session: Session, organization: models.Organization) -> bool:
    return scp_enabled(root_of(session, organization))


def create_organizational_unit(
    session: Session, account_id: str, parent_id: object, name: object, tags: object, now: dt.datetime
) -> tuple[models.Organization, models.OrganizationNode]:
    organization = managed_organization(session, account_id, for_update=True)
    name = orgs.ou_name(orgs.given(name, "Name"))
    tag_map = orgs.tags(tags)
    parent = parent_node(session, organization, parent_id)
    if depth(parent) + 1 > orgs.OU_MAX_DEPTH:
        raise AwsError(
            "ConstraintViolationException",
            f"OUs can be nested at most {orgs.OU_MAX_DEPTH} levels below the root.",
            reason="OU_DEPTH_LIMIT_EXCEEDED",
        )
    count = session.scalar(
        select(func.count()).where(
            models.OrganizationNode.organization_id == organization.id,
            models.OrganizationNode.kind == orgs.ORGANIZATIONAL_UNIT,
        )
    )
    if (count or 0) >= orgs.OUS_PER_ORGANIZATION:
        raise AwsError(
            "ConstraintViolationException",
            f"An organization can have at most {orgs.OUS_PER_ORGANIZATION} OUs.",
            reason="OU_NUMBER_LIMIT_EXCEEDED",
        )
    _check_unique_ou_name(session, parent.id, name)
    root_id = parent.path.split("/")[0]
    ou_id = orgs.new_ou_id(root_id)
    ou = models.OrganizationNode(
        id=ou_id,
        organization_id=organization.id,
        kind=orgs.ORGANIZATIONAL_UNIT,
        name=name,
        parent_id=parent.id,
        path=f"{parent.path}/{ou_id}",
        policy_types={},
        tags=tag_map,
        created_at=now,
    )
    session.add(ou)
    if scps_enabled(session, organization):
        attach_default_scp(session, organization, ou_id)
    flush_or(session, _duplicate_ou(name))
    return organization, ou


def _check_unique_ou_name(session: Session, parent_id: str, name: str) -> None:
    clash = session.scalar(
        select(models.OrganizationNode.id).where(
            models.OrganizationNode.parent_id == parent_id, models.OrganizationNode.name == name
        )
    )
    if clash is not None:
        raise _duplicate_ou(name)


def _duplicate_ou(name: str) -> AwsError:
    return AwsError("DuplicateOrganizationalUnitException", f"An OU named {name} already exists in this parent.")


def update_organizational_unit(
    session: Session, account_id: str, ou_id: object, name: object
) -> tuple[models.Organization, models.OrganizationNode]:
    organization = managed_organization(session, account_id, for_update=True)
    ou = organizational_unit(session, organization, ou_id)
    if name is not None:
        name = orgs.ou_name(name)
        if name != ou.name:
            assert ou.parent_id is not None
            _check_unique_ou_name(session, ou.parent_id, name)
            ou.name = name
            flush_or(session, _duplicate_ou(name))
    return organization, ou


def delete_organizational_unit(session: Session, account_id: str, ou_id: object) -> None:
    organization = managed_organization(session, account_id, for_update=True)
    ou = organizational_unit(session, organization, ou_id)
    has_children = session.scalar(
        select(models.OrganizationNode.id).where(models.OrganizationNode.parent_id == ou.id).limit(1)
    ) or session.scalar(
        select(models.OrganizationAccount.account_id).where(models.OrganizationAccount.parent_id == ou.id).limit(1)
    )
    if has_children:
        raise AwsError("OrganizationalUnitNotEmptyException")
    _drop_attachments(session, organization, ou.id)
    session.delete(ou)
    session.flush()


def _drop_attachments(session: Session, organization: models.Organization, target_id: str) -> None:
    session.execute(
        delete(models.OrganizationPolicyAttachment).where(
            models.OrganizationPolicyAttachment.organization_id == organization.id,
            models.OrganizationPolicyAttachment.target_id == target_id,
        )
    )


def child_nodes(session: Session, parent: models.OrganizationNode) -> list[models.OrganizationNode]:
    return list(
        session.scalars(
            select(models.OrganizationNode)
            .where(models.OrganizationNode.parent_id == parent.id)
            .order_by(models.OrganizationNode.id)
        )
    )


def child_accounts(session: Session, parent: models.OrganizationNode) -> list[models.OrganizationAccount]:
    return list(
        session.scalars(
            select(models.OrganizationAccount)
            .where(models.OrganizationAccount.parent_id == parent.id)
            .order_by(models.OrganizationAccount.account_id)
        )
    )


@dataclass(frozen=True)
class Link:
    """A child or parent as ListChildren / ListParents show it."""

    id: str
    type: str


def list_children(session: Session, account_id: str, parent_id: object, child_type: object) -> list[Link]:
    organization = managed_organization(session, account_id)
    kind = orgs.enum(orgs.given(child_type, "ChildType"), "ChildType", (orgs.ACCOUNT, orgs.ORGANIZATIONAL_UNIT))
    parent = parent_node(session, organization, parent_id)
    if kind == orgs.ACCOUNT:
        return [Link(member.account_id, orgs.ACCOUNT) for member in child_accounts(session, parent)]
    return [Link(child.id, orgs.ORGANIZATIONAL_UNIT) for child in child_nodes(session, parent)]


def list_parents(session: Session, account_id: str, child_id: object) -> list[Link]:
    organization = managed_organization(session, account_id)
    child_id = orgs.identifier(orgs.given(child_id, "ChildId"), "ChildId", orgs.CHILD_ID)
    parent_id: str | None = None
    if orgs.ACCOUNT_ID.fullmatch(child_id):
        member = membership(session, child_id)
        if member is not None and member.organization_id == organization.id:
            parent_id = member.parent_id
    else:
        ou = node(session, organization, child_id)
        if ou is not None:
            parent_id = ou.parent_id
    if parent_id is None:
        raise AwsError("ChildNotFoundException", f"We can't find an OU or account with the ChildId {child_id}.")
    parent = session.get(models.OrganizationNode, parent_id)
    assert parent is not None
    return [Link(parent.id, parent.kind)]


# --- accounts -----------------------------------------------------------------------------------


def member_account(
    session: Session, organization: models.Organization, account_id: object
) -> models.OrganizationAccount:
    account_id = orgs.identifier(orgs.given(account_id, "AccountId"), "AccountId", orgs.ACCOUNT_ID)
    member = membership(session, account_id)
    if member is None or member.organization_id != organization.id:
        raise AwsError(
            "AccountNotFoundException", f"We can't find an account with the id {account_id} in this organization."
        )
    return member


def accounts(session: Session, organization: models.Organization) -> list[models.OrganizationAccount]:
    return list(
        session.scalars(
            select(models.OrganizationAccount)
            .where(models.OrganizationAccount.organization_id == organization.id)
            .order_by(models.OrganizationAccount.account_id)
        )
    )


def _access_role_trust(management_account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": iam_arns.account_root_arn(management_account)},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def _new_account_id(session: Session) -> str:
    while True:
        candidate = new_account_id()
        if session.get(models.Account, candidate) is None:
            return candidate


def create_account(
    session: Session,
    account_id: str,
    *,
    email: object,
    account_name: object,
    role_name: object,
    tags: object,
    now: dt.datetime,
) -> models.CreateAccountRequest:
    """Create a member account under the root with its administrator role, in one transaction.

    AWS does this asynchronously; the broker finishes before answering, so the status it returns
    is already SUCCEEDED (or FAILED with AWS's reason) and DescribeCreateAccountStatus agrees.
    """
    organization = managed_organization(session, account_id, for_update=True)
    email = orgs.email(orgs.given(email, "Email"))
    name = orgs.account_name(orgs.given(account_name, "AccountName"))
    role = orgs.role_name(role_name) if role_name is not None else orgs.DEFAULT_ACCESS_ROLE
    tag_map = orgs.tags(tags)
    request = models.CreateAccountRequest(
        id=orgs.new_create_account_request_id(),
        organization_id=organization.id,
        account_name=name,
        state="IN_PROGRESS",
        requested_at=now,
    )
    session.add(request)
    failure = None
    if session.scalar(select(models.Account.id).where(func.lower(models.Account.email) == email.lower()).limit(1)):
        failure = "EMAIL_ALREADY_EXISTS"
    elif (
        session.scalar(select(func.count()).where(models.OrganizationAccount.organization_id == organization.id)) or 0
    ) >= orgs.ACCOUNTS_PER_ORGANIZATION:
        failure = "ACCOUNT_LIMIT_EXCEEDED"
    if failure is not None:
        request.state, request.failure_reason, request.completed_at = "FAILED", failure, now
        session.flush()
        return request
    new_id = _new_account_id(session)
    session.add(models.Account(id=new_id, alias=None, name=name, email=email, created_at=now))
    session.flush()
    root = root_of(session, organization)
    _join(session, organization, new_id, root.id, tag_map, now)
    if scp_enabled(root):
        attach_default_scp(session, organization, new_id)
    access_role = iam_roles.create_role(
        session,
        new_id,
        name=role,
        trust_policy=_access_role_trust(organization.management_account_id),
        path="/",
        description="Lets the organization's management account administer this account.",
        max_session_duration=None,
        permissions_boundary=None,
        tags=None,
        now=now,
    )
    iam_policies.attach_policy(session, new_id, access_role, iam_arns.aws_managed_policy_arn("AdministratorAccess"))
    request.state, request.account_id, request.completed_at = "SUCCEEDED", new_id, now
    session.flush()
    return request


def create_account_request(session: Session, account_id: str, request_id: object) -> models.CreateAccountRequest:
    organization = managed_organization(session, account_id)
    request_id = orgs.identifier(
        orgs.given(request_id, "CreateAccountRequestId"),
        "CreateAccountRequestId",
        orgs.CREATE_ACCOUNT_REQUEST_ID,
    )
    request = session.get(models.CreateAccountRequest, request_id)
    if request is None or request.organization_id != organization.id:
        raise AwsError("CreateAccountStatusNotFoundException")
    return request


def create_account_requests(session: Session, account_id: str, states: object) -> list[models.CreateAccountRequest]:
    organization = managed_organization(session, account_id)
    wanted: set[str] | None = None
    if states is not None:
        if not isinstance(states, list):
            raise orgs.invalid_input("INVALID_SYNTAX", "States must be a list.")
        wanted = {orgs.enum(state, "States", ("IN_PROGRESS", "SUCCEEDED", "FAILED")) for state in states}
    requests = session.scalars(
        select(models.CreateAccountRequest)
        .where(models.CreateAccountRequest.organization_id == organization.id)
        .order_by(models.CreateAccountRequest.requested_at, models.CreateAccountRequest.id)
    )
    return [r for r in requests if wanted is None or r.state in wanted]


def move_account(
    session: Session, account_id: str, target_account: object, source_parent: object, destination_parent: object
) -> None:
    organization = managed_organization(session, account_id, for_update=True)
    member = member_account(session, organization, target_account)
    source_id = orgs.identifier(orgs.given(source_parent, "SourceParentId"), "SourceParentId", orgs.PARENT_ID)
    destination_id = orgs.identifier(
        orgs.given(destination_parent, "DestinationParentId"),
        "DestinationParentId",
        orgs.PARENT_ID,
    )
    if node(session, organization, source_id) is None:
        raise AwsError("SourceParentNotFoundException", f"We can't find a root or OU with the id {source_id}.")
    destination = node(session, organization, destination_id)
    if destination is None:
        raise AwsError(
            "DestinationParentNotFoundException", f"We can't find a root or OU with the id {destination_id}."
        )
    if member.parent_id != source_id:
        raise AwsError(
            "SourceParentNotFoundException", f"Account {member.account_id} is not in the source parent {source_id}."
        )
    if destination_id == source_id:
        raise AwsError("DuplicateAccountException", f"Account {member.account_id} is already in {destination_id}.")
    member.parent_id = destination.id
    session.flush()


def account_label(account: models.Account) -> str:
    return account.name or account.alias or account.id


@dataclass(frozen=True)
class Target:
    """A root, OU or account as ListTargetsForPolicy describes it."""

    id: str
    type: str
    arn: str
    name: str


def describe_targets(session: Session, organization: models.Organization, target_ids: Sequence[str]) -> list[Target]:
    """The roots, OUs and accounts of the organization among ``target_ids`` (two reads in all)."""
    management, org_id = organization.management_account_id, organization.id
    account_ids = [t for t in target_ids if orgs.ACCOUNT_ID.fullmatch(t)]
    node_ids = [t for t in target_ids if not orgs.ACCOUNT_ID.fullmatch(t)]
    found: dict[str, Target] = {}
    if account_ids:
        members = session.scalars(
            select(models.OrganizationAccount)
            .options(joinedload(models.OrganizationAccount.account))
            .where(
                models.OrganizationAccount.account_id.in_(account_ids),
                models.OrganizationAccount.organization_id == org_id,
            )
        )
        for member in members:
            arn = orgs.account_arn(management, org_id, member.account_id)
            found[member.account_id] = Target(member.account_id, orgs.ACCOUNT, arn, account_label(member.account))
    if node_ids:
        nodes = session.scalars(
            select(models.OrganizationNode).where(
                models.OrganizationNode.id.in_(node_ids), models.OrganizationNode.organization_id == org_id
            )
        )
        for item in nodes:
            if item.kind == orgs.ROOT:
                arn = orgs.root_arn(management, org_id, item.id)
            else:
                arn = orgs.ou_arn(management, org_id, item.id)
            found[item.id] = Target(item.id, item.kind, arn, item.name)
    return [found[t] for t in target_ids if t in found]


def target(session: Session, organization: models.Organization, target_id: str) -> Target | None:
    found = describe_targets(session, organization, [target_id])
    return found[0] if found else None


# --- tags ---------------------------------------------------------------------------------------

Taggable = models.OrganizationNode | models.OrganizationAccount | models.OrganizationPolicy


def taggable(session: Session, account_id: str, resource_id: object, *, for_update: bool = False) -> Taggable:
    """The root, OU, account or (customer managed) policy a tag call names."""
    organization = managed_organization(session, account_id, for_update=for_update)
    resource_id = orgs.identifier(orgs.given(resource_id, "ResourceId"), "ResourceId", orgs.TAGGABLE_ID)
    found: Taggable | None
    if orgs.ACCOUNT_ID.fullmatch(resource_id):
        found = membership(session, resource_id)
        found = found if found is not None and found.organization_id == organization.id else None
    elif resource_id.startswith("p-"):
        policy = session.get(models.OrganizationPolicy, resource_id)
        found = policy if policy is not None and policy.organization_id == organization.id else None
    else:
        found = node(session, organization, resource_id)
    if found is None:
        raise AwsError(
            "TargetNotFoundException", f"We can't find a root, OU, account or policy with the id {resource_id}."
        )
    return found


def tag_resource(session: Session, account_id: str, resource_id: object, tags: object) -> None:
    resource = taggable(session, account_id, resource_id, for_update=True)
    new = orgs.tags(orgs.given(tags, "Tags"))
    merged = {**(resource.tags or {}), **new}
    if len(merged) > orgs.TAGS_MAX:
        raise AwsError(
            "ConstraintViolationException",
            f"A resource can have at most {orgs.TAGS_MAX} tags.",
            reason="MAX_TAG_LIMIT_EXCEEDED",
        )
    resource.tags = merged
    session.flush()


def untag_resource(session: Session, account_id: str, resource_id: object, keys: object) -> None:
    resource = taggable(session, account_id, resource_id, for_update=True)
    keys = orgs.given(keys, "TagKeys")
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise orgs.invalid_input("INVALID_SYNTAX", "TagKeys must be a list of strings.")
    resource.tags = {key: value for key, value in (resource.tags or {}).items() if key not in set(keys)}
    session.flush()


def resource_tags(session: Session, account_id: str, resource_id: object) -> list[tuple[str, str]]:
    return sorted((taggable(session, account_id, resource_id).tags or {}).items())
