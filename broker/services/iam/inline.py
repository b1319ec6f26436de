"""Inline policies embedded in a user, group or role."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.names import validate_policy_name
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.services.iam._common import decode_policy_parameter, flush_or_conflict, validate_document_text
from broker.store import models

Owner = models.User | models.Group | models.Role
InlinePolicy = models.UserInlinePolicy | models.GroupInlinePolicy | models.RoleInlinePolicy


@dataclass(frozen=True)
class _Rules:
    label: str
    kind: PolicyKind
    total_size: int


_RULES: dict[type, _Rules] = {
    models.User: _Rules("user", PolicyKind.INLINE_USER, limits.INLINE_POLICIES_USER_SIZE),
    models.Group: _Rules("group", PolicyKind.INLINE_GROUP, limits.INLINE_POLICIES_GROUP_SIZE),
    models.Role: _Rules("role", PolicyKind.INLINE_ROLE, limits.INLINE_POLICIES_ROLE_SIZE),
}


def _new_inline(owner: Owner, name: str, document: str) -> InlinePolicy:
    if isinstance(owner, models.User):
        return models.UserInlinePolicy(name=name, document=document)
    if isinstance(owner, models.Group):
        return models.GroupInlinePolicy(name=name, document=document)
    return models.RoleInlinePolicy(name=name, document=document)


def put_inline_policy(session: Session, owner: Owner, policy_name: str, document: str) -> None:
    """Create or replace; the owner's inline policies together stay within AWS's size quota."""
    rules = _RULES[type(owner)]
    validate_policy_name(policy_name)
    document = decode_policy_parameter(validate_document_text(document))
    too_large = AwsError(
        "LimitExceeded", f"Maximum policy size of {rules.total_size} bytes exceeded for {rules.label} {owner.name}"
    )
    try:
        parse_policy(document, rules.kind, policy_id=policy_name)
    except PolicyTooLarge:
        raise too_large from None
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None
    others = sum(limits.policy_size(p.document) for p in owner.inline_policies if p.name != policy_name)
    if others + limits.policy_size(document) > rules.total_size:
        raise too_large
    for existing in owner.inline_policies:
        if existing.name == policy_name:
            existing.document = document
            return
    owner.inline_policies.append(_new_inline(owner, policy_name, document))  # type: ignore[arg-type]
    flush_or_conflict(session)


def get_inline_policy(owner: Owner, policy_name: str) -> InlinePolicy:
    validate_policy_name(policy_name)
    for existing in owner.inline_policies:
        if existing.name == policy_name:
            return existing
    label = _RULES[type(owner)].label
    raise AwsError("NoSuchEntity", f"The {label} policy with name {policy_name} cannot be found.")


def delete_inline_policy(session: Session, owner: Owner, policy_name: str) -> None:
    found = get_inline_policy(owner, policy_name)
    owner.inline_policies.remove(found)  # type: ignore[arg-type]
    session.flush()


def inline_policy_names(owner: Owner) -> list[str]:
    return [p.name for p in owner.inline_policies]
