"""Signed digest records: CloudTrail's log-file integrity validation over the hash chain.

A digest covers the events since the previous digest (``firstEventIndex`` .. ``lastEventIndex``):
it names the hash the first of them links to and the hash of the last, so it commits to every
event in between. It carries the previous digest's signature and the hash of its document, so
digests form a chain of their own, and the time range it closes. The canonical JSON document
is signed with the audit key (Ed25519) and stored verbatim with its signature.

Digests are written under the chain-head lock, so with several broker processes exactly one
writes each and none can interleave with an event append.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from broker.crypto.keys import AuditKeyRing
from broker.services.audit.chain import canonical_json, record_time
from broker.store import Tx
from broker.store.audit import digests as stored
from broker.store.audit.chain import GENESIS_HASH, lock_head
from broker.store.audit.digests import DigestRecord

DIGEST_VERSION = "1.0"
SIGNATURE_ALGORITHM = "Ed25519"
HASH_ALGORITHM = "SHA-256"


def digest_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_digest_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedDigest:
    """A digest as stored: the signed document text, its parsed fields and its signature."""

    document: str
    fields: dict[str, Any]
    signature: str
    key_id: str

    @classmethod
    def from_row(cls, row: DigestRecord) -> SignedDigest:
        try:
            fields = json.loads(row.document)
        except json.JSONDecodeError:
            fields = {}
        return cls(row.document, fields if isinstance(fields, dict) else {}, row.signature, row.key_id)

    def signature_valid(self, keys: AuditKeyRing) -> bool:
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        kid = self.fields.get("digestPublicKeyFingerprint")
        return isinstance(kid, str) and keys.verify(kid, signature, self.document.encode("utf-8"))


def is_due(tx: Tx, now: dt.datetime, interval_seconds: int) -> bool:
    """Cheap, lock-free check the background writer makes before taking the lock."""
    last_end = stored.last_digest_end(tx)
    return last_end is None or (now - last_end).total_seconds() >= interval_seconds


def write_digest(
    tx: Tx,
    keys: AuditKeyRing,
    *,
    account_id: str,
    region: str,
    now: dt.datetime,
    interval_seconds: int | None = None,
    only_if_pending: bool = False,
) -> DigestRecord | None:
    """Write the next digest, unless ``interval_seconds`` is given and the last one is younger
    (or ``only_if_pending`` and no event came since).

    Takes the chain-head lock first, so the events it covers are exactly those committed.
    """
    head = lock_head(tx)
    previous = stored.latest_digest(tx)
    if only_if_pending and head.last_index <= (previous.last_index if previous is not None else 0):
        return None
    if (
        interval_seconds is not None
        and previous is not None
        and (now - previous.end_time).total_seconds() < interval_seconds
    ):
        return None
    if previous is None:
        first_index, previous_event_hash = 1, GENESIS_HASH
        first_time = stored.first_event_time(tx)
        start_time = min(first_time, now) if first_time is not None else now
        previous_fields: dict[str, Any] = {}
    else:
        previous_fields = SignedDigest.from_row(previous).fields
        first_index = previous.last_index + 1
        previous_event_hash = str(previous_fields.get("lastEventHash", GENESIS_HASH))
        start_time = previous.end_time
    last_index = max(head.last_index, first_index - 1)
    count = last_index - first_index + 1
    oldest, newest = stored.event_time_range(tx, first_index, last_index)
    end_time = max(now, start_time)
    fields: dict[str, Any] = {
        "digestVersion": DIGEST_VERSION,
        "awsAccountId": account_id,
        "awsRegion": region,
        "digestIndex": previous.digest_index + 1 if previous is not None else 1,
        "digestStartTime": digest_time(start_time),
        "digestEndTime": digest_time(end_time),
        "firstEventIndex": first_index,
        "lastEventIndex": last_index,
        "eventCount": count,
        "oldestEventTime": record_time(oldest) if oldest is not None else None,
        "newestEventTime": record_time(newest) if newest is not None else None,
        "hashAlgorithm": HASH_ALGORITHM,
        "previousEventHash": previous_event_hash,
        "lastEventHash": head.last_hash if count > 0 else previous_event_hash,
        "previousDigestIndex": previous.digest_index if previous is not None else None,
        "previousDigestSignature": previous.signature if previous is not None else None,
        "previousDigestHashValue": document_hash(previous.document) if previous is not None else None,
        "digestPublicKeyFingerprint": keys.kid,
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
    }
    document = canonical_json(fields).decode("ascii")
    digest = DigestRecord(
        digest_index=fields["digestIndex"],
        first_index=first_index,
        last_index=last_index,
        start_time=start_time,
        end_time=end_time,
        document=document,
        signature=base64.b64encode(keys.sign(document.encode("utf-8"))).decode("ascii"),
        key_id=keys.kid,
    )
    stored.add_digest(tx, digest)
    return digest
