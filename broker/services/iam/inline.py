"""Inline policies embedded in a user, group or role."""

from __future__ import annotations

import json

from broker.iam import limits
from broker.iam.entities import Group, InlinePolicy, Role, User
from broker.iam.errors import AwsError
from broker.iam.names import validate_policy_name
from broker.policy import InvalidPolicyJson, MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.services.iam._common import (
    INVALID_JSON,
    QuotaOwner,
    decode_policy_parameter,
    hold_quota_owner,
    validate_document_text,
    written_or_conflict,
)
from broker.services.iam._kinds import unique_id
from broker.store import Tx
from broker.store.iam import owned
from broker.store.iam.owned import OwnerKind

Owner = User | Group | Role

# The inline policy `broker bootstrap-admin` gives the administrator: everything.
ADMINISTRATOR_ACCESS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)

# Per kind of owner: how AWS's messages name it, the policy kind, the quota on its inline policies' total size.
_RULES: dict[OwnerKind, tuple[str, PolicyKind, int]] = {
    "User": ("user", PolicyKind.INLINE_USER, limits.INLINE_POLICIES_USER_SIZE),
    "Group": ("group", PolicyKind.INLINE_GROUP, limits.INLINE_POLICIES_GROUP_SIZE),
    "Role": ("role", PolicyKind.INLINE_ROLE, limits.INLINE_POLICIES_ROLE_SIZE),
}


def _kind(owner: Owner) -> OwnerKind:
    return "User" if isinstance(owner, User) else "Group" if isinstance(owner, Group) else "Role"


def _policies(tx: Tx, owner: Owner) -> list[InlinePolicy]:
    return owned.inline_policies(tx, _kind(owner), unique_id(owner))


def put_inline_policy(tx: Tx, owner: Owner, policy_name: str, document: str) -> None:
    """Create or replace; the owner's inline policies together stay within AWS's size quota."""
    label, kind, total_size = _RULES[_kind(owner)]
    validate_policy_name(policy_name)
    document = decode_policy_parameter(validate_document_text(document))
    too_large = AwsError(
        "LimitExceeded", f"Maximum policy size of {total_size} bytes exceeded for {label} {owner.name}"
    )
    try:
        parse_policy(document, kind, policy_id=policy_name)
    except PolicyTooLarge:
        raise too_large from None
    except InvalidPolicyJson:
        raise AwsError("MalformedPolicyDocument", INVALID_JSON) from None
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None
    # The total is a quota like any other: summed under the owner's lock, or two concurrent puts
    # each see room for themselves and together exceed it.
    hold_quota_owner(tx, QuotaOwner(_kind(owner), unique_id(owner), owner.name))
    existing = _policies(tx, owner)
    others = sum(limits.policy_size(p.document) for p in existing if p.name != policy_name)
    if others + limits.policy_size(document) > total_size:
        raise too_large
    replace = any(p.name == policy_name for p in existing)
    written_or_conflict(
        owned.put_inline_policy(tx, _kind(owner), unique_id(owner), policy_name, document, replace=replace)
    )


def get_inline_policy(tx: Tx, owner: Owner, policy_name: str) -> InlinePolicy:
    validate_policy_name(policy_name)
    for existing in _policies(tx, owner):
        if existing.name == policy_name:
            return existing
    label = _RULES[_kind(owner)][0]
    raise AwsError("NoSuchEntity", f"The {label} policy with name {policy_name} cannot be found.")


def delete_inline_policy(tx: Tx, owner: Owner, policy_name: str) -> None:
    found = get_inline_policy(tx, owner, policy_name)
    owned.delete_inline_policy(tx, _kind(owner), unique_id(owner), found.name)


def inline_policy_names(tx: Tx, owner: Owner) -> list[str]:
    return [p.name for p in _policies(tx, owner)]
