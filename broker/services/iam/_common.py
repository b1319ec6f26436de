"""Helpers shared by the IAM use cases: documents, tags, quotas, uniqueness, AWS's messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, name_key, validate_tag_key, validate_tags, validation_error
from broker.policy import InvalidPolicyJson, MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.store import Tx
from broker.store.iam.named import Dependents
from broker.store.iam.quota_owners import QuotaOwnerKind, lock_quota_owner

T = TypeVar("T")
_DOCUMENT_TEXT = re.compile(r"[\t\n\r\x20-\xff]+")
# IAM's one answer for a document that is not JSON, whatever the policy is for.
INVALID_JSON = "This policy contains invalid Json"
CONCURRENT = (
    "The request was rejected because multiple requests to change this object were submitted "
    "simultaneously. Wait a few minutes and submit your request again."
)


def decode_policy_parameter(document: str) -> str:
    """The AWS CLI and SDKs send documents as-is; some tools URL-encode them. Accept both."""
    stripped = document.strip()
    if stripped.startswith("%7B") or stripped.startswith("%7b"):
        return unquote(stripped)
    return document


def validate_document_text(document: str | None, field: str = "policyDocument") -> str:
    """botocore's policyDocumentType: 1..131072 characters of tab, LF, CR and U+0020..U+00FF."""
    if document is None:
        raise validation_error([constraint_violation(None, field, "must not be null")])
    if len(document) > limits.POLICY_DOCUMENT_MAX:
        raise validation_error(
            [
                constraint_violation(
                    "[document]", field, f"must have length less than or equal to {limits.POLICY_DOCUMENT_MAX}"
                )
            ]
        )
    if not _DOCUMENT_TEXT.fullmatch(document):
        raise validation_error(
            [
                constraint_violation(
                    "[document]",
                    field,
                    r"must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+",
                )
            ]
        )
    return document


def check_policy(document: str, kind: PolicyKind, what: str = "policy") -> None:
    """Validate a document for its use; the error AWS gives for a bad or oversized one."""
    try:
        parse_policy(document, kind, policy_id=what)
    except PolicyTooLarge:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for PolicySize: {kind.size_limit}") from None
    except InvalidPolicyJson:
        raise AwsError("MalformedPolicyDocument", INVALID_JSON) from None
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None


def prepared_document(document: str, kind: PolicyKind, what: str = "policy") -> str:
    """Validate the raw parameter and the policy in it; return the document to store."""
    document = decode_policy_parameter(validate_document_text(document))
    check_policy(document, kind, what)
    return document


def validate_path_prefix(path_prefix: str | None) -> str:
    """``pathPrefixType``: ``/`` followed by U+0021..U+007F (need not end in ``/``)."""
    prefix = path_prefix or "/"
    if len(prefix) > limits.PATH_MAX or not prefix.startswith("/") or any(not 0x21 <= ord(c) <= 0x7F for c in prefix):
        raise validation_error(
            [
                constraint_violation(
                    prefix, "pathPrefix", r"must satisfy regular expression pattern: \u002F[\u0021-\u007F]*"
                )
            ]
        )
    return prefix


# --- quotas, uniqueness, deletion ---------------------------------------------------------------


@dataclass(frozen=True)
class QuotaOwner:
    """What a quota is counted under: an account (by its id), or a user, group, role or instance
    profile (by its unique id, with its name for the error if it is deleted meanwhile)."""

    kind: QuotaOwnerKind
    handle: str
    name: str

    @classmethod
    def account(cls, account_id: str) -> QuotaOwner:
        return cls("Account", account_id, account_id)

    def missing(self) -> AwsError:
        if self.kind == "InstanceProfile":
            return AwsError("NoSuchEntity", f"Instance Profile {self.name} cannot be found.")
        return AwsError("NoSuchEntity", f"The {self.kind.lower()} with name {self.name} cannot be found.")


def hold_quota_owner(tx: Tx, owner: QuotaOwner) -> None:
    """Lock the owner's row until the transaction ends, before what is under it is counted or
    summed (NoSuchEntity if it was deleted meanwhile); see :func:`check_quota`."""
    if not lock_quota_owner(tx, owner.kind, owner.handle):
        raise owner.missing()


def check_quota(tx: Tx, owner: QuotaOwner, count: Callable[[], int], quota: str, limit: int) -> None:
    """One more under ``owner`` would exceed ``quota`` (``UsersPerAccount``...): AWS's LimitExceeded.

    The owner's row is locked first and held until the transaction ends, so ``count`` runs after,
    and sees, whatever a concurrent request just added under the same owner (PostgreSQL's READ
    COMMITTED let six concurrent CreateAccessKey calls all count none); an owner deleted
    meanwhile is NoSuchEntity. Call it before the request takes any other row lock."""
    hold_quota_owner(tx, owner)
    if count() >= limit:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for {quota}: {limit}")


def written_or_conflict(done: bool, code: str = "ConcurrentModification", message: str = CONCURRENT) -> None:
    """A store write another request's change just refused (it returned False) ends as an AWS error, not a 500."""
    if not done:
        raise AwsError(code, message)


def created_or_exists(created: T | None, message: str) -> T:
    """A new entity; None from the store (a concurrent request took its name) is AWS's EntityAlreadyExists."""
    if created is None:
        raise AwsError("EntityAlreadyExists", message)
    return created


# What AWS asks to be done first, in the order it checks: a user's keys before its groups...
_DELETE_FIRST = (
    ("access_keys", "delete access keys"),
    ("mfa_devices", "delete MFA device"),
    ("service_specific_credentials", "delete service-specific credentials"),
    ("members", "remove users from group"),
    ("inline_policies", "delete policies"),
    ("attached_policies", "detach all policies"),
    ("groups", "remove user from all groups"),
)


def check_deletable(dependents: Dependents) -> None:
    """AWS refuses to delete an entity that still has subordinate entities, naming the first kind."""
    for kind, step in _DELETE_FIRST:
        if getattr(dependents, kind):
            raise AwsError("DeleteConflict", f"Cannot delete entity, must {step} first.")


# --- tags ---------------------------------------------------------------------------------------


def merged_tags(existing: Mapping[str, str] | None, new: Sequence[tuple[str, str]], what: str) -> dict[str, str]:
    """Tag an entity: a key already there (compared case-insensitively) takes the new value."""
    incoming = validate_tags(list(new))
    result = {key: value for key, value in (existing or {}).items()}
    for key, value in incoming.items():
        for old in [k for k in result if name_key(k) == name_key(key)]:
            del result[old]
        result[key] = value
    if len(result) > limits.TAGS_PER_ENTITY:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for TagsPer{what}: {limits.TAGS_PER_ENTITY}")
    return result


def without_tags(existing: Mapping[str, str] | None, keys: Sequence[str]) -> dict[str, str]:
    if len(keys) > limits.TAGS_PER_ENTITY:
        raise validation_error(
            [
                constraint_violation(
                    f"[{len(keys)} keys]", "tagKeys", f"must have length less than or equal to {limits.TAGS_PER_ENTITY}"
                )
            ]
        )
    for index, key in enumerate(keys, start=1):
        validate_tag_key(key, f"tagKeys.{index}.member")
    dropped = {name_key(key) for key in keys}
    return {key: value for key, value in (existing or {}).items() if name_key(key) not in dropped}
