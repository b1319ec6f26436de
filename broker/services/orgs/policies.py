"""Service control policies: create, change, delete, attach, detach, and the policy type switch."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.services.orgs.context import scp_enabled
from broker.services.orgs.structure import (
    Target,
    accounts,
    attach_default_scp,
    describe_targets,
    flush_or,
    managed_organization,
    root_of,
    scps_enabled,
    target,
)
from broker.store import models


def _immutable() -> AwsError:
    return orgs.invalid_input("IMMUTABLE_POLICY", "AWS managed policies can't be changed or deleted.")


def _policy_type(value: object, field: str = "Type") -> str:
    policy_type = orgs.enum(value, field, orgs.POLICY_TYPES, reason="INVALID_ENUM_POLICY_TYPE")
    if policy_type != orgs.SERVICE_CONTROL_POLICY:
        raise orgs.invalid_input(
            "INVALID_ENUM_POLICY_TYPE", f"This broker enforces SERVICE_CONTROL_POLICY only, not {policy_type}."
        )
    return policy_type


def _content(value: object) -> str:
    content = orgs.policy_content(orgs.given(value, "Content"))
    try:
        parse_policy(content, PolicyKind.SCP, policy_id="Content")
    except (MalformedPolicyDocument, PolicyTooLarge) as exc:
        raise AwsError("MalformedPolicyDocumentException", str(exc)) from None
    return content


def policy(session: Session, organization: models.Organization, policy_id: object) -> models.OrganizationPolicy:
    policy_id = orgs.identifier(orgs.given(policy_id, "PolicyId"), "PolicyId", orgs.POLICY_ID)
    found = session.get(models.OrganizationPolicy, policy_id)
    if found is None or (not found.aws_managed and found.organization_id != organization.id):
        raise AwsError("PolicyNotFoundException", f"We can't find a policy with the id {policy_id}.")
    return found


def _check_unique_name(
    session: Session, organization: models.Organization, policy_type: str, name: str, exclude: str | None = None
) -> None:
    clash = session.scalar(
        select(models.OrganizationPolicy.id).where(
            (models.OrganizationPolicy.organization_id == organization.id)
            | (models.OrganizationPolicy.aws_managed.is_(True)),
            models.OrganizationPolicy.type == policy_type,
            models.OrganizationPolicy.name == name,
        )
    )
    if clash is not None and clash != exclude:
        raise _duplicate_policy(name)


def _duplicate_policy(name: str) -> AwsError:
    return AwsError("DuplicatePolicyException", f"A policy named {name} already exists.")


def create_policy(
    session: Session,
    account_id: str,
    *,
    name: object,
    description: object,
    content: object,
    policy_type: object,
    tags: object,
    now: dt.datetime,
) -> tuple[models.Organization, models.OrganizationPolicy]:
    organization = managed_organization(session, account_id, for_update=True)
    name = orgs.policy_name(orgs.given(name, "Name"))
    description = orgs.policy_description(orgs.given(description, "Description"))
    kind = _policy_type(orgs.given(policy_type, "Type"))
    document = _content(content)
    tag_map = orgs.tags(tags)
    _check_unique_name(session, organization, kind, name)
    count = session.scalar(select(func.count()).where(models.OrganizationPolicy.organization_id == organization.id))
    if (count or 0) >= orgs.POLICIES_PER_ORGANIZATION:
        raise AwsError(
            "ConstraintViolationException",
            f"An organization can have at most {orgs.POLICIES_PER_ORGANIZATION} policies.",
            reason="POLICY_NUMBER_LIMIT_EXCEEDED",
        )
    created = models.OrganizationPolicy(
        id=orgs.new_policy_id(),
        organization_id=organization.id,
        type=kind,
        name=name,
        description=description,
        content=document,
        aws_managed=False,
        tags=tag_map,
        created_at=now,
    )
    session.add(created)
    flush_or(session, _duplicate_policy(name))
    return organization, created


def describe_policy(
    session: Session, account_id: str, policy_id: object
) -> tuple[models.Organization, models.OrganizationPolicy]:
    organization = managed_organization(session, account_id)
    return organization, policy(session, organization, policy_id)


def update_policy(
    session: Session, account_id: str, policy_id: object, *, name: object, description: object, content: object
) -> tuple[models.Organization, models.OrganizationPolicy]:
    organization = managed_organization(session, account_id, for_update=True)
    found = policy(session, organization, policy_id)
    if found.aws_managed:
        raise _immutable()
    if name is not None:
        new_name = orgs.policy_name(name)
        _check_unique_name(session, organization, found.type, new_name, exclude=found.id)
        found.name = new_name
    if description is not None:
        found.description = orgs.policy_description(description)
    if content is not None:
        found.content = _content(content)
    session.flush()
    return organization, found


def _attachments(
    session: Session, organization: models.Organization, **where: str
) -> list[models.OrganizationPolicyAttachment]:
    query = select(models.OrganizationPolicyAttachment).where(
        models.OrganizationPolicyAttachment.organization_id == organization.id
    )
    for column, value in where.items():
        query = query.where(getattr(models.OrganizationPolicyAttachment, column) == value)
    return list(session.scalars(query))


def delete_policy(session: Session, account_id: str, policy_id: object) -> None:
    organization = managed_organization(session, account_id, for_update=True)
    found = policy(session, organization, policy_id)
    if found.aws_managed:
        raise _immutable()
    if _attachments(session, organization, policy_id=found.id):
        raise AwsError("PolicyInUseException")
    session.delete(found)
    session.flush()


def list_policies(
    session: Session, account_id: str, policy_filter: object
) -> tuple[models.Organization, list[models.OrganizationPolicy]]:
    organization = managed_organization(session, account_id)
    kind = _policy_type(orgs.given(policy_filter, "Filter"), "Filter")
    found = session.scalars(
        select(models.OrganizationPolicy)
        .where(
            (models.OrganizationPolicy.organization_id == organization.id)
            | (models.OrganizationPolicy.aws_managed.is_(True)),
            models.OrganizationPolicy.type == kind,
        )
        .order_by(models.OrganizationPolicy.id)
    )
    return organization, list(found)


def _target_id(value: object) -> str:
    return orgs.identifier(orgs.given(value, "TargetId"), "TargetId", orgs.TARGET_ID, "INVALID_PATTERN_TARGET_ID")


def _existing_target(session: Session, organization: models.Organization, target_id: str) -> None:
    if target(session, organization, target_id) is None:
        raise AwsError("TargetNotFoundException", f"We can't find a root, OU or account with the id {target_id}.")


def _require_enabled(session: Session, organization: models.Organization) -> None:
    if not scps_enabled(session, organization):
        raise AwsError("PolicyTypeNotEnabledException")


def _attachment_call(
    session: Session, account_id: str, policy_id: object, target_id: object
) -> tuple[models.Organization, models.OrganizationPolicy, str, list[models.OrganizationPolicyAttachment]]:
    """The locked organization, the policy, the target and what is attached to it now."""
    organization = managed_organization(session, account_id, for_update=True)
    found = policy(session, organization, policy_id)
    checked_target = _target_id(target_id)
    _existing_target(session, organization, checked_target)
    return organization, found, checked_target, _attachments(session, organization, target_id=checked_target)


def attach_policy(
    session: Session, account_id: str, policy_id: object, target_id: object
) -> tuple[models.Organization, models.OrganizationPolicy, str]:
    organization, found, target_id, attached = _attachment_call(session, account_id, policy_id, target_id)
    _require_enabled(session, organization)
    if any(item.policy_id == found.id for item in attached):
        raise AwsError("DuplicatePolicyAttachmentException")
    if len(attached) >= orgs.POLICIES_PER_TARGET:
        raise AwsError(
            "ConstraintViolationException",
            f"A root, OU or account can have at most {orgs.POLICIES_PER_TARGET} service control policies attached.",
            reason="MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
    session.add(
        models.OrganizationPolicyAttachment(organization_id=organization.id, policy_id=found.id, target_id=target_id)
    )
    session.flush()
    return organization, found, target_id


def detach_policy(
    session: Session, account_id: str, policy_id: object, target_id: object
) -> tuple[models.Organization, models.OrganizationPolicy, str]:
    organization, found, target_id, attached = _attachment_call(session, account_id, policy_id, target_id)
    match = next((item for item in attached if item.policy_id == found.id), None)
    if match is None:
        raise AwsError("PolicyNotAttachedException")
    if len(attached) <= 1:
        raise AwsError(
            "ConstraintViolationException",
            "Every root, OU and account must keep at least one service control policy; attach its replacement first.",
            reason="MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
    session.delete(match)
    session.flush()
    return organization, found, target_id


def policies_for_target(
    session: Session, account_id: str, target_id: object, policy_filter: object
) -> tuple[models.Organization, list[models.OrganizationPolicy]]:
    organization = managed_organization(session, account_id)
    target_id = _target_id(target_id)
    kind = _policy_type(orgs.given(policy_filter, "Filter"), "Filter")
    _existing_target(session, organization, target_id)
    attached = _attachments(session, organization, target_id=target_id)
    found = [item.policy for item in attached if item.policy.type == kind]
    return organization, sorted(found, key=lambda p: p.id)


def targets_for_policy(session: Session, account_id: str, policy_id: object) -> list[Target]:
    """Every root, OU and account the policy is attached to, in id order."""
    organization = managed_organization(session, account_id)
    found = policy(session, organization, policy_id)
    target_ids = sorted(item.target_id for item in _attachments(session, organization, policy_id=found.id))
    return describe_targets(session, organization, target_ids)


def _all_targets(session: Session, organization: models.Organization) -> list[str]:
    nodes = session.scalars(
        select(models.OrganizationNode.id).where(models.OrganizationNode.organization_id == organization.id)
    )
    return [*nodes, *(member.account_id for member in accounts(session, organization))]


def enable_policy_type(
    session: Session, account_id: str, root_id: object, policy_type: object
) -> tuple[models.Organization, models.OrganizationNode]:
    """Turn SCPs on for the organization: FullAWSAccess is attached to the root, every OU and every
    account, so nothing changes until a narrower policy replaces it or a Deny is added."""
    organization = managed_organization(session, account_id, for_update=True)
    root = _root(session, organization, root_id)
    kind = _policy_type(orgs.given(policy_type, "PolicyType"), "PolicyType")
    if organization.feature_set != "ALL":
        raise AwsError("PolicyTypeNotAvailableForOrganizationException")
    if scp_enabled(root):
        raise AwsError("PolicyTypeAlreadyEnabledException")
    root.policy_types = {**(root.policy_types or {}), kind: "ENABLED"}
    attached = {item.target_id for item in _attachments(session, organization, policy_id=orgs.FULL_AWS_ACCESS_ID)}
    for target_id in _all_targets(session, organization):
        if target_id not in attached:
            attach_default_scp(session, organization, target_id)
    session.flush()
    return organization, root


def disable_policy_type(
    session: Session, account_id: str, root_id: object, policy_type: object
) -> tuple[models.Organization, models.OrganizationNode]:
    """Turn SCPs off: every SCP attachment in the organization is removed, as AWS does."""
    organization = managed_organization(session, account_id, for_update=True)
    root = _root(session, organization, root_id)
    kind = _policy_type(orgs.given(policy_type, "PolicyType"), "PolicyType")
    if not scp_enabled(root):
        raise AwsError("PolicyTypeNotEnabledException")
    root.policy_types = {key: value for key, value in (root.policy_types or {}).items() if key != kind}
    session.execute(
        delete(models.OrganizationPolicyAttachment).where(
            models.OrganizationPolicyAttachment.organization_id == organization.id
        )
    )
    session.flush()
    return organization, root


def _root(session: Session, organization: models.Organization, root_id: object) -> models.OrganizationNode:
    root_id = orgs.identifier(orgs.given(root_id, "RootId"), "RootId", orgs.ROOT_ID)
    root = root_of(session, organization)
    if root.id != root_id:
        raise AwsError("RootNotFoundException", f"We can't find a root with the id {root_id}.")
    return root
