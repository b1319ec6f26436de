"""Service control policies: create, change, delete, attach, detach, and the policy type switch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.org_entities import Node, Organization, Policy, PolicyAttachment, Root, Target
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.services.orgs import lookup
from broker.services.orgs.context import scp_enabled
from broker.store import Tx
from broker.store import orgs as store


def _immutable() -> AwsError:
    return orgs.invalid_input("IMMUTABLE_POLICY", "AWS managed policies can't be changed or deleted.")


def _policy_type(value: object, field: str = "Type") -> str:
    policy_type = orgs.enum(orgs.given(value, field), field, orgs.POLICY_TYPES, reason="INVALID_ENUM_POLICY_TYPE")
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


def _policy(tx: Tx, organization: Organization, policy_id: object) -> Policy:
    policy_id = orgs.identifier(orgs.given(policy_id, "PolicyId"), "PolicyId", orgs.POLICY_ID)
    found = store.policy(tx, policy_id)
    if found is None or (not found.aws_managed and found.organization_id != organization.id):
        raise AwsError("PolicyNotFoundException", f"We can't find a policy with the id {policy_id}.")
    return found


def _check_unique_name(
    tx: Tx, organization: Organization, policy_type: str, name: str, exclude: str | None = None
) -> None:
    clash = store.policy_named(tx, organization.id, policy_type, name)
    if clash is not None and clash != exclude:
        raise _duplicate_policy(name)


def _duplicate_policy(name: str) -> AwsError:
    return AwsError("DuplicatePolicyException", f"A policy named {name} already exists.")


def create_policy(
    tx: Tx,
    account_id: str,
    *,
    name: object,
    description: object,
    content: object,
    policy_type: object,
    tags: object,
    now: dt.datetime,
) -> tuple[Organization, Policy]:
    organization = lookup.managed(tx, account_id, lock=True)
    name = orgs.policy_name(orgs.given(name, "Name"))
    description = orgs.policy_description(orgs.given(description, "Description"))
    kind = _policy_type(policy_type)
    document = _content(content)
    tag_map = orgs.tags(tags)
    _check_unique_name(tx, organization, kind, name)
    if store.count_policies(tx, organization.id) >= orgs.POLICIES_PER_ORGANIZATION:
        raise AwsError(
            "ConstraintViolationException",
            f"An organization can have at most {orgs.POLICIES_PER_ORGANIZATION} policies.",
            reason="POLICY_NUMBER_LIMIT_EXCEEDED",
        )
    policy_id = orgs.new_policy_id()
    created = store.add_policy(tx, policy_id, organization.id, kind, name, description, document, tag_map, now)
    lookup.flush_or(tx, _duplicate_policy(name))
    return organization, created


def describe_policy(tx: Tx, account_id: str, policy_id: object) -> tuple[Organization, Policy]:
    organization = lookup.managed(tx, account_id)
    return organization, _policy(tx, organization, policy_id)


def update_policy(
    tx: Tx, account_id: str, policy_id: object, *, name: object, description: object, content: object
) -> tuple[Organization, Policy]:
    organization = lookup.managed(tx, account_id, lock=True)
    found = _policy(tx, organization, policy_id)
    if found.aws_managed:
        raise _immutable()
    new_name = orgs.policy_name(name) if name is not None else None
    if new_name is not None:
        _check_unique_name(tx, organization, found.type, new_name, exclude=found.id)
    new_description = orgs.policy_description(description) if description is not None else None
    new_content = _content(content) if content is not None else None
    updated = store.update_policy(tx, found.id, name=new_name, description=new_description, content=new_content)
    return organization, updated


def delete_policy(tx: Tx, account_id: str, policy_id: object) -> None:
    organization = lookup.managed(tx, account_id, lock=True)
    found = _policy(tx, organization, policy_id)
    if found.aws_managed:
        raise _immutable()
    if store.attachments(tx, organization.id, policy_id=found.id):
        raise AwsError("PolicyInUseException")
    store.remove_policy(tx, found.id)


def list_policies(tx: Tx, account_id: str, policy_filter: object) -> tuple[Organization, list[Policy]]:
    organization = lookup.managed(tx, account_id)
    kind = _policy_type(policy_filter, "Filter")
    return organization, store.policies(tx, organization.id, kind)


# --- attachments --------------------------------------------------------------------------------


def _target_id(value: object) -> str:
    return orgs.identifier(orgs.given(value, "TargetId"), "TargetId", orgs.TARGET_ID, "INVALID_PATTERN_TARGET_ID")


def _describe_targets(tx: Tx, organization: Organization, target_ids: Sequence[str]) -> list[Target]:
    """The roots, OUs and accounts of the organization among ``target_ids`` (two reads in all)."""
    management, org_id = organization.management_account_id, organization.id
    account_ids = [t for t in target_ids if orgs.ACCOUNT_ID.fullmatch(t)]
    node_ids = [t for t in target_ids if not orgs.ACCOUNT_ID.fullmatch(t)]
    found: dict[str, Target] = {}
    if account_ids:
        for member in store.members_among(tx, org_id, account_ids):
            arn = orgs.account_arn(management, org_id, member.id)
            found[member.id] = Target(member.id, orgs.ACCOUNT, arn, member.name)
    if node_ids:
        for item in store.nodes_among(tx, org_id, node_ids):
            if item.kind == orgs.ROOT:
                arn = orgs.root_arn(management, org_id, item.id)
            else:
                arn = orgs.ou_arn(management, org_id, item.id)
            found[item.id] = Target(item.id, item.kind, arn, item.name)
    return [found[t] for t in target_ids if t in found]


def _existing_target(tx: Tx, organization: Organization, target_id: str) -> None:
    if not _describe_targets(tx, organization, [target_id]):
        raise AwsError("TargetNotFoundException", f"We can't find a root, OU or account with the id {target_id}.")


def _attachment_call(
    tx: Tx, account_id: str, policy_id: object, target_id: object
) -> tuple[Organization, Policy, str, list[PolicyAttachment]]:
    """The locked organization, the policy, the target and what is attached to it now."""
    organization = lookup.managed(tx, account_id, lock=True)
    found = _policy(tx, organization, policy_id)
    checked_target = _target_id(target_id)
    _existing_target(tx, organization, checked_target)
    return organization, found, checked_target, store.attachments(tx, organization.id, target_id=checked_target)


def attach_policy(tx: Tx, account_id: str, policy_id: object, target_id: object) -> None:
    organization, found, checked_target, attached = _attachment_call(tx, account_id, policy_id, target_id)
    if not lookup.scps_enabled(tx, organization):
        raise AwsError("PolicyTypeNotEnabledException")
    if any(item.policy_id == found.id for item in attached):
        raise AwsError("DuplicatePolicyAttachmentException")
    if len(attached) >= orgs.POLICIES_PER_TARGET:
        raise AwsError(
            "ConstraintViolationException",
            f"A root, OU or account can have at most {orgs.POLICIES_PER_TARGET} service control policies attached.",
            reason="MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
    store.attach(tx, organization.id, found.id, checked_target)
    store.flush(tx)


def detach_policy(tx: Tx, account_id: str, policy_id: object, target_id: object) -> None:
    organization, found, checked_target, attached = _attachment_call(tx, account_id, policy_id, target_id)
    match = next((item for item in attached if item.policy_id == found.id), None)
    if match is None:
        raise AwsError("PolicyNotAttachedException")
    if len(attached) <= 1:
        raise AwsError(
            "ConstraintViolationException",
            "Every root, OU and account must keep at least one service control policy; attach its replacement first.",
            reason="MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
    store.detach(tx, organization.id, match.policy_id, checked_target)


def policies_for_target(
    tx: Tx, account_id: str, target_id: object, policy_filter: object
) -> tuple[Organization, list[Policy]]:
    organization = lookup.managed(tx, account_id)
    checked = _target_id(target_id)
    kind = _policy_type(policy_filter, "Filter")
    _existing_target(tx, organization, checked)
    return organization, store.attached_policies(tx, organization.id, checked, kind)


def targets_for_policy(tx: Tx, account_id: str, policy_id: object) -> list[Target]:
    """Every root, OU and account the policy is attached to, in id order."""
    organization = lookup.managed(tx, account_id)
    found = _policy(tx, organization, policy_id)
    target_ids = sorted(item.target_id for item in store.attachments(tx, organization.id, policy_id=found.id))
    return _describe_targets(tx, organization, target_ids)


# --- the policy type switch ---------------------------------------------------------------------


def _root(tx: Tx, organization: Organization, root_id: object) -> Node:
    root_id = orgs.identifier(orgs.given(root_id, "RootId"), "RootId", orgs.ROOT_ID)
    root = lookup.root(tx, organization.id)
    if root.id != root_id:
        raise AwsError("RootNotFoundException", f"We can't find a root with the id {root_id}.")
    return root


def enable_policy_type(tx: Tx, account_id: str, root_id: object, policy_type: object) -> tuple[Organization, Root]:
    """Turn SCPs on for the organization: FullAWSAccess is attached to the root, every OU and every
    account, so nothing changes until a narrower policy replaces it or a Deny is added."""
    organization = lookup.managed(tx, account_id, lock=True)
    root = _root(tx, organization, root_id)
    kind = _policy_type(policy_type, "PolicyType")
    if organization.feature_set != "ALL":
        raise AwsError("PolicyTypeNotAvailableForOrganizationException")
    if scp_enabled(root):
        raise AwsError("PolicyTypeAlreadyEnabledException")
    root = store.set_policy_types(tx, root.id, {**root.policy_types, kind: "ENABLED"})
    attached = {item.target_id for item in store.attachments(tx, organization.id, policy_id=orgs.FULL_AWS_ACCESS_ID)}
    for target_id in store.target_ids(tx, organization.id):
        if target_id not in attached:
            lookup.attach_default_scp(tx, organization, target_id)
    store.flush(tx)
    return organization, root.as_root()


def disable_policy_type(tx: Tx, account_id: str, root_id: object, policy_type: object) -> tuple[Organization, Root]:
    """Turn SCPs off: every SCP attachment in the organization is removed, as AWS does."""
    organization = lookup.managed(tx, account_id, lock=True)
    root = _root(tx, organization, root_id)
    kind = _policy_type(policy_type, "PolicyType")
    if not scp_enabled(root):
        raise AwsError("PolicyTypeNotEnabledException")
    root = store.set_policy_types(tx, root.id, {key: value for key, value in root.policy_types.items() if key != kind})
    store.detach_all(tx, organization.id)
    return organization, root.as_root()
