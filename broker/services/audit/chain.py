"""The hash chain: every audit event links to the one committed before it.

``event_hash = SHA-256("broker-audit-chain-v1|" + prev_hash + "|" + canonical JSON of the record)``,
hex-encoded; the first event links to 64 zeros. The canonical JSON is the record with keys
sorted, no whitespace and non-ASCII characters escaped (``json.dumps(..., sort_keys=True,
separators=(",", ":"))``), so anyone holding an exported record can recompute its hash.

:func:`record_event` holds an event until its transaction commits. At commit the transaction's
other changes are flushed first; then the chain-head row is locked (``SELECT ... FOR UPDATE``
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers), the events get the
next positions and are inserted, and the commit releases the lock. Positions therefore follow
commit order: two broker processes never fork the chain, a transaction that rolls back never
takes a position (no gap), and the lock is the last one a transaction takes (no deadlock with
the rows it changed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event, insert, select, update
from sqlalchemy.orm import Session, UOWTransaction

from broker.iam.timestamps import aws_timestamp
from broker.store.models import AuditChainHead, AuditEvent, AuditResource

GENESIS_HASH = "0" * 64
_DOMAIN = b"broker-audit-chain-v1|"
HEAD_ID = 1
_PENDING = "broker.audit.pending"
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


def index_resources(record: Mapping[str, Any]) -> list[AuditResource]:
    return [
        AuditResource(resource_type=kind, resource_name=name, short_name=short)
        for kind, name, short in resource_rows(record)
    ]


@dataclass(frozen=True)
class Head:
    last_index: int
    last_hash: str


def lock_head(connection: Connection) -> Head:
    """The chain head, locked until the transaction ends; rebuilt from the events if missing."""
    row = connection.execute(
        select(AuditChainHead.last_index, AuditChainHead.last_hash)
        .where(AuditChainHead.id == HEAD_ID)
        .with_for_update()
    ).first()
    if row is not None:
        return Head(int(row.last_index), str(row.last_hash))
    # Only a damaged database lacks the row (the migration creates it): continue from the last
    # event so appends keep working; `broker audit verify` reports the damage.
    last = connection.execute(
        select(AuditEvent.chain_index, AuditEvent.event_hash).order_by(AuditEvent.chain_index.desc()).limit(1)
    ).first()
    head = Head(int(last.chain_index), str(last.event_hash)) if last is not None else Head(0, GENESIS_HASH)
    connection.execute(
        insert(AuditChainHead).values(
            id=HEAD_ID, last_index=head.last_index, last_hash=head.last_hash, updated_at=dt.datetime.now(dt.UTC)
        )
    )
    return head


def track(session: Session, audit_event: AuditEvent) -> None:
    """Hold a recorded event until its transaction commits (see :func:`_append_recorded`)."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((transaction, audit_event))


def _assign(session: Session, events: list[AuditEvent]) -> None:
    """Give ``events`` the next positions, in order, and move the head: under the head lock."""
    connection = session.connection()
    head = lock_head(connection)
    index, last_hash = head.last_index, head.last_hash
    for audit_event in events:
        index += 1
        audit_event.chain_index = index
        audit_event.prev_hash = last_hash
        audit_event.event_hash = chain_hash(last_hash, audit_event.record)
        last_hash = audit_event.event_hash
    connection.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(last_index=index, last_hash=last_hash, updated_at=dt.datetime.now(dt.UTC))
    )


@event.listens_for(Session, "before_commit")
def _append_recorded(session: Session) -> None:
    """At the outermost commit: write the transaction's other changes, then chain its events.

    The chain-head lock is thus the last lock the transaction takes, held only while its events
    are inserted and it commits: appends never wait on other rows while holding it.
    """
    if session.in_nested_transaction():
        return  # a SAVEPOINT being released; its events wait for the outer commit
    pending: list[tuple[Any, AuditEvent]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    session.flush()
    events = [audit_event for _transaction, audit_event in pending]
    _assign(session, events)
    session.add_all(events)


def _within(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: Any) -> None:
    """Events recorded in a transaction (or SAVEPOINT) that rolled back are never written."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if previous.parent is None:
        session.info.pop(_PENDING, None)
    else:
        session.info[_PENDING] = [(t, e) for t, e in pending if not _within(t, previous)]


@event.listens_for(Session, "before_flush")
def _chain_added_directly(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """An AuditEvent added to a session without :func:`record_event` is chained as it is flushed."""
    direct = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.event_hash is None]
    if direct:
        _assign(session, sorted(direct, key=lambda e: (e.event_time, e.event_id)))
