"""Signed digest records: CloudTrail's log-file integrity validation over the hash chain.

A digest covers the events since the previous digest (``firstEventIndex`` .. ``lastEventIndex``):
it names the hash the first of them links to and the hash of the last, so it commits to every
event in between. It carries the previous digest's signature and the hash of its document, so
digests form a chain of their own, and the time range it closes. The canonical JSON document
is signed with the audit key (Ed25519) and stored verbatim with its signature.

Digests are written under the chain-head lock, so with several broker processes exactly one
writes each and none can interleave with an event append.

The trail begins with a **genesis** digest that `broker init` writes once (:func:`write_genesis`).
No other writer starts a trail that has no digest, so a trail wiped of its digests stays without
one and fails verification. Each digest says why it was written (``digestTrigger``). Each broker
process also remembers the newest digest it has seen: if that digest is gone or replaced when the
process writes the next one, the trail was cut back under it, and the new digest says so, signed
(``missingDigests``), for `broker audit verify` to report.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal

from broker.crypto.keys import AuditKeyRing
from broker.errors import BrokerError
from broker.services.audit.chain import canonical_json, record_time
from broker.store import Tx
from broker.store.audit import digests as stored
from broker.store.audit.chain import GENESIS_HASH, after_commit, lock_head, trail_key
from broker.store.audit.digests import DigestRecord
from broker.store.audit.origin import mark_begun, trail_origin

log = logging.getLogger("broker.audit")
DIGEST_VERSION = "1.0"
SIGNATURE_ALGORITHM = "Ed25519"
HASH_ALGORITHM = "SHA-256"
# Why a digest was written, signed in it as ``digestTrigger``: by `broker init` (the trail's
# origin), by a broker every interval, at a clean shutdown, or by `broker audit digest` / export.
Trigger = Literal["genesis", "interval", "shutdown", "command"]
# However short the interval, the next digest may come this much late (a tick, a lock wait, a purge).
MIN_SLACK_SECONDS = 120


def overdue_after(interval_seconds: int) -> int:
    """Seconds after the newest digest by which the next one must exist: the interval plus a
    slack of one more interval, at least two minutes."""
    return interval_seconds + max(interval_seconds, MIN_SLACK_SECONDS)


class AuditTrailNotBegun(BrokerError):
    """The trail has no digest, not even its genesis: no writer continues it."""

    code = "AuditTrailNotBegun"
    status = 409


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
        except (ValueError, RecursionError):  # not JSON, or nested past the parser
            fields = {}
        return cls(row.document, fields if isinstance(fields, dict) else {}, row.signature, row.key_id)

    def signature_valid(self, keys: AuditKeyRing) -> bool:
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        kid = self.fields.get("digestPublicKeyFingerprint")
        return isinstance(kid, str) and keys.verify(kid, signature, self.document.encode("utf-8"))


# --- what this process has seen ------------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    digest_index: int
    signature: str


# The newest digest this process has seen, per database: what cutting the trail back would remove.
_seen: dict[str, _Seen] = {}
_seen_lock = threading.Lock()


def forget_seen_digests() -> None:
    """Forget every digest this process has seen, as a process that just started knows none."""
    with _seen_lock:
        _seen.clear()


def _recall(tx: Tx) -> _Seen | None:
    with _seen_lock:
        return _seen.get(trail_key(tx))


def _vanished(tx: Tx, seen: _Seen | None, latest: DigestRecord | None) -> bool:
    """Whether the digest this process last saw is gone or replaced (a purge never removes the newest)."""
    if seen is None:
        return False
    if latest is None or latest.digest_index < seen.digest_index:
        return True
    if latest.digest_index == seen.digest_index:
        return latest.signature != seen.signature
    kept = stored.digest_signature(tx, seen.digest_index)
    return kept is not None and kept != seen.signature


def _remember(tx: Tx, latest: DigestRecord | None) -> None:
    """Move this process's memory on to ``latest``, unless the digest it remembers vanished."""
    seen = _recall(tx)
    if latest is None or (
        seen is not None and (latest.digest_index <= seen.digest_index or _vanished(tx, seen, latest))
    ):
        return
    _note(trail_key(tx), _Seen(latest.digest_index, latest.signature))


def _note(key: str, seen: _Seen) -> None:
    with _seen_lock:
        _seen[key] = seen


# --- writing -------------------------------------------------------------------------------------


def is_due(tx: Tx, now: dt.datetime, interval_seconds: int) -> bool:
    """Cheap, lock-free check the background writer makes before taking the lock."""
    latest = stored.latest_digest(tx)
    _remember(tx, latest)
    return latest is None or (now - latest.end_time).total_seconds() >= interval_seconds


def write_genesis(tx: Tx, keys: AuditKeyRing, *, account_id: str, region: str, now: dt.datetime) -> DigestRecord | None:
    """Begin the trail with its genesis digest, if the origin row says it has not begun.

    Once per database, by `broker init` right after the schema is set up. A trail from before the
    origin row that has digests already begins at its first one (nothing is written); a missing
    origin row writes nothing (verification reports the trail as it is).
    """
    lock_head(tx)
    origin = trail_origin(tx)
    if origin is None or origin.genesis_digest_index is not None:
        return None
    first = stored.first_digest_index(tx)
    if first is not None:
        mark_begun(tx, first, now)
        return None
    genesis = write_digest(tx, keys, account_id=account_id, region=region, now=now, trigger="genesis")
    assert genesis is not None
    mark_begun(tx, genesis.digest_index, now)
    return genesis


def write_digest(
    tx: Tx,
    keys: AuditKeyRing,
    *,
    account_id: str,
    region: str,
    now: dt.datetime,
    interval_seconds: int | None = None,
    only_if_pending: bool = False,
    trigger: Trigger = "command",
) -> DigestRecord | None:
    """Write the next digest, unless ``interval_seconds`` is given and the last one is younger
    (or ``only_if_pending`` and no event came since).

    Takes the chain-head lock first, so the events it covers are exactly those committed. Raises
    :class:`AuditTrailNotBegun` when the trail has no digest and this is not its genesis.
    """
    head = lock_head(tx)
    previous = stored.latest_digest(tx)
    if previous is None and trigger != "genesis":
        raise AuditTrailNotBegun(
            "the audit trail has no digest, not even the genesis digest `broker init` writes: it was wiped, "
            "and no digest is written over it (`broker audit verify` reports it)"
        )
    if only_if_pending and head.last_index <= (previous.last_index if previous is not None else 0):
        return None
    if (
        interval_seconds is not None
        and previous is not None
        and (now - previous.end_time).total_seconds() < interval_seconds
    ):
        return None
    seen = _recall(tx)
    missing = _vanished(tx, seen, previous)
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
        "digestTrigger": trigger,
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
    if missing and seen is not None:
        # This process saw a newer digest than the one the trail now ends with: it was cut back.
        log.critical(
            "the audit trail was cut back: this process saw digest #%s, the trail now ends at digest #%s",
            seen.digest_index,
            previous.digest_index if previous is not None else None,
        )
        fields["missingDigests"] = {
            "seenDigestIndex": seen.digest_index,
            "seenDigestSignature": seen.signature,
            "foundDigestIndex": previous.digest_index if previous is not None else None,
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
    key, written = trail_key(tx), _Seen(digest.digest_index, digest.signature)
    after_commit(tx, lambda: _note(key, written))  # a digest rolled back was never seen
    return digest
