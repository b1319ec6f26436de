"""Helpers shared by the IAM use cases: documents, tags, uniqueness, AWS's messages."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, name_key, validate_tag_key, validate_tags, validation_error
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy

_DOCUMENT_TEXT = re.compile(r"[\t\n\r\x20-\xff]+")


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
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None


def prepared_document(document: str, kind: PolicyKind, what: str = "policy") -> str:
    """Validate the raw parameter and the policy in it; return the document to store."""
    document = decode_policy_parameter(validate_document_text(document))
    check_policy(document, kind, what)
    return document


def flush_or_exists(session: Session, message: str) -> None:
    """Flush in a savepoint; a unique-constraint race ends as AWS's EntityAlreadyExists."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AwsError("EntityAlreadyExists", message) from None


# --- tags ---------------------------------------------------------------------------------------


def tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]


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


def flush_or_conflict(session: Session, code: str = "ConcurrentModification", message: str | None = None) -> None:
    """Flush in a savepoint; a constraint another request just tripped ends as an AWS error, not a 500."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AwsError(
            code,
            message
            or "The request was rejected because multiple requests to change this object were submitted "
            "simultaneously. Wait a few minutes and submit your request again.",
        ) from None
