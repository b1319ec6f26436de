"""The hash chain: every audit event links to the one committed before it.

``event_hash = SHA-256("broker-audit-chain-v1|" + prev_hash + "|" + canonical JSON of the record)``,
hex-encoded; the first event links to 64 zeros (:data:`broker.store.audit.chain.GENESIS_HASH`).
The canonical JSON is the record with keys sorted, no whitespace and non-ASCII characters
escaped (``json.dumps(..., sort_keys=True, separators=(",", ":"))``), so anyone holding an
exported record can recompute its hash.

:func:`record_event` holds an event until its transaction commits; then the store locks the
chain head and :func:`link_events` gives the transaction's events the next positions, in order
(:mod:`broker.store.audit.chain`), so positions follow commit order. The group-commit writer's
batches are linked by the same rule under the same lock, at the end of their own transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from broker.iam.timestamps import aws_timestamp
from broker.store.audit.chain import ChainHead, ChainLink, link_at_commit

_DOMAIN = b"broker-audit-chain-v1|"
_RESOURCE_TYPES = {
    ("iam", "role"): "AWS::IAM::Role",
    ("iam", "user"): "AWS::IAM::User",
    ("iam", "group"): "AWS::IAM::Group",
    ("iam", "policy"): "AWS::IAM::Policy",
    ("iam", "saml-provider"): "AWS::IAM::SAMLProvider",
    ("iam", "instance-profile"): "AWS::IAM::InstanceProfile",
    ("sts", "assumed-role"): "AWS::STS::AssumedRole",
    ("sts", "federated-user"): "AWS::STS::FederatedUser",
}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def chain_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    return hashlib.sha256(_DOMAIN + prev_hash.encode("ascii") + b"|" + canonical_json(record)).hexdigest()


def record_time(moment: dt.datetime) -> str:
    """CloudTrail's ``eventTime`` format."""
    return aws_timestamp(moment)


def indexed_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """The columns LookupEvents filters on, as derived from a record (and checked against it)."""
    identity = record.get("userIdentity") or {}
    username = identity.get("userName") or identity.get("arn")
    access_key_id = identity.get("accessKeyId")
    error_code = record.get("errorCode")
    account_id = record.get("recipientAccountId")
    return {
        "event_id": str(record.get("eventID")),
        "event_source": str(record.get("eventSource"))[:64],
        "event_name": str(record.get("eventName"))[:128],
        "username": str(username)[:256] if username else None,
        "access_key_id": str(access_key_id)[:20] if access_key_id else None,
        "error_code": str(error_code)[:64] if error_code else None,
        "read_only": bool(record.get("readOnly")),
        "account_id": str(account_id)[:12] if account_id else None,
        # Records before data events existed all say true; one that says false is hidden from
        # LookupEvents, so verification checks the column against the record like the others.
        "management_event": record.get("managementEvent") is not False,
    }


def resource_type(arn: str) -> str | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return _RESOURCE_TYPES.get((parts[2], parts[5].split("/", 1)[0]))


def resource_rows(record: Mapping[str, Any]) -> list[tuple[str | None, str, str]]:
    """(type, name, short name) of each resource a record lists; ``*`` names none."""
    rows: list[tuple[str | None, str, str]] = []
    for item in record.get("resources") or []:
        arn = item.get("ARN") if isinstance(item, Mapping) else None
        if isinstance(arn, str) and arn and arn != "*":
            row = (resource_type(arn), arn[:2048], arn.rsplit("/", 1)[-1][:512])
            if row not in rows:
                rows.append(row)
    return rows


def link_events(head: ChainHead, records: Sequence[Mapping[str, Any]]) -> list[ChainLink]:
    """The positions after ``head`` for ``records``, in order, each linked to the one before."""
    links: list[ChainLink] = []
    index, last_hash = head.last_index, head.last_hash
    for record in records:
        index += 1
        event_hash = chain_hash(last_hash, record)
        links.append(ChainLink(index, last_hash, event_hash))
        last_hash = event_hash
    return links


link_at_commit(link_events)
