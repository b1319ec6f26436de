"""Inline policies embedded in a user, group or role."""

from __future__ import annotations

import json

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.names import validate_policy_name
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.services.iam._common import decode_policy_parameter, save_or_conflict, validate_document_text
from broker.store import Tx, models
from broker.store.iam import rows

Owner = models.User | models.Group | models.Role
InlinePolicy = models.UserInlinePolicy | models.GroupInlinePolicy | models.RoleInlinePolicy

# The inline policy `broker bootstrap-admin` gives the administrator: everything.
ADMINISTRATOR_ACCESS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)

# Per kind of owner: how AWS's messages name it, the policy kind, the quota on its inline policies' total size.
_RULES: dict[type, tuple[str, PolicyKind, int]] = {
    models.User: ("user", PolicyKind.INLINE_USER, limits.INLINE_POLICIES_USER_SIZE),
    models.Group: ("group", PolicyKind.INLINE_GROUP, limits.INLINE_POLICIES_GROUP_SIZE),
    models.Role: ("role", PolicyKind.INLINE_ROLE, limits.INLINE_POLICIES_ROLE_SIZE),
}


def _new_inline(owner: Owner, name: str, document: str) -> InlinePolicy:
    if isinstance(owner, models.User):
        return models.UserInlinePolicy(name=name, document=document)
    if isinstance(owner, models.Group):
        return models.GroupInlinePolicy(name=name, document=document)
    return models.RoleInlinePolicy(name=name, document=document)


def put_inline_policy(tx: Tx, owner: Owner, policy_name: str, document: str) -> None:
    """Create or replace; the owner's inline policies together stay within AWS's size quota."""
    label, kind, total_size = _RULES[type(owner)]
    validate_policy_name(policy_name)
    document = decode_policy_parameter(validate_document_text(document))
    too_large = AwsError(
        "LimitExceeded", f"Maximum policy size of {total_size} bytes exceeded for {label} {owner.name}"
    )
    try:
        parse_policy(document, kind, policy_id=policy_name)
    except PolicyTooLarge:
        raise too_large from None
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None
    others = sum(limits.policy_size(p.document) for p in owner.inline_policies if p.name != policy_name)
    if others + limits.policy_size(document) > total_size:
        raise too_large
    for existing in owner.inline_policies:
        if existing.name == policy_name:
            existing.document = document
            return
    owner.inline_policies.append(_new_inline(owner, policy_name, document))  # type: ignore[arg-type]
    save_or_conflict(tx)


def get_inline_policy(owner: Owner, policy_name: str) -> InlinePolicy:
    validate_policy_name(policy_name)
    for existing in owner.inline_policies:
        if existing.name == policy_name:
            return existing
    label = _RULES[type(owner)][0]
    raise AwsError("NoSuchEntity", f"The {label} policy with name {policy_name} cannot be found.")


def delete_inline_policy(tx: Tx, owner: Owner, policy_name: str) -> None:
    found = get_inline_policy(owner, policy_name)
    owner.inline_policies.remove(found)  # type: ignore[arg-type]
    rows.flush(tx)


def inline_policy_names(owner: Owner) -> list[str]:
    return [p.name for p in owner.inline_policies]
