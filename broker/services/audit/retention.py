"""Retention: delete old audit events a whole digest at a time, keeping the trail verifiable.

The newest digest that ended before the cutoff stays, as the signed anchor verification starts
from: it names the hash of the last purged event, which the first remaining event links to.
Its events and every older digest go. The purge is itself an audit event in the chain
(``PurgeAuditEvents``), so `broker audit verify` can tell a purge from a deletion.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from broker.iam.timestamps import aws_timestamp
from broker.services.audit._record import Actor, record_event
from broker.services.audit.digests import SignedDigest, parse_digest_time
from broker.store import Tx
from broker.store.audit import events as stored
from broker.store.audit.chain import lock_head
from broker.store.audit.digests import DigestRecord, last_digest_ended_before

log = logging.getLogger("broker.audit")

EVENT_SOURCE = "broker.audit"
# The event a purge records: verification starts the trail at the digest it names.
PURGE_EVENT = "PurgeAuditEvents"


@dataclass(frozen=True)
class PurgeResult:
    anchor_digest_index: int | None
    events_deleted: int
    digests_deleted: int
    cutoff: dt.datetime

    @property
    def purged(self) -> bool:
        return self.anchor_digest_index is not None and (self.events_deleted > 0 or self.digests_deleted > 0)


def purge_expired(
    tx: Tx,
    *,
    retention_days: int,
    now: dt.datetime,
    actor: Actor,
    region: str,
    account_id: str,
    request_id: str,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete events and digests older than ``retention_days`` (0 keeps everything)."""
    cutoff = now - dt.timedelta(days=retention_days)
    if retention_days <= 0:
        return PurgeResult(None, 0, 0, cutoff)
    lock_head(tx)
    anchor = last_digest_ended_before(tx, cutoff)
    if anchor is None:
        return PurgeResult(None, 0, 0, cutoff)
    if not _signed_as_stored(anchor, cutoff):
        # The digest was chosen by its columns; what was signed says otherwise. Purging on the
        # columns' word could delete fresh events and leave a trail that still verifies.
        log.warning(
            "not purging: digest #%d's columns differ from its signed document; run `broker audit verify`",
            anchor.digest_index,
        )
        return PurgeResult(None, 0, 0, cutoff)
    result = PurgeResult(
        anchor.digest_index,
        stored.count_events_through(tx, anchor.last_index),
        stored.count_digests_before(tx, anchor.digest_index),
        cutoff,
    )
    if dry_run or not result.purged:
        return result
    stored.delete_through(tx, last_index=anchor.last_index, digest_index=anchor.digest_index)
    record_event(
        tx,
        event_name=PURGE_EVENT,
        event_source=EVENT_SOURCE,
        actor=actor,
        now=now,
        region=region,
        source_ip=None,
        user_agent="broker",
        request_id=request_id,
        request_parameters={
            "retentionDays": retention_days,
            "cutoff": aws_timestamp(cutoff),
            "anchorDigestIndex": anchor.digest_index,
            "deletedThroughEventIndex": anchor.last_index,
        },
        response_elements={"eventsDeleted": result.events_deleted, "digestsDeleted": result.digests_deleted},
        event_type="AwsServiceEvent",
        recipient_account_id=account_id,
    )
    return result


def _signed_as_stored(anchor: DigestRecord, cutoff: dt.datetime) -> bool:
    """Whether the anchor's signed document ends before ``cutoff`` at the event its columns name."""
    fields = SignedDigest.from_row(anchor).fields
    try:
        ended = parse_digest_time(str(fields["digestEndTime"]))
    except (ValueError, KeyError):
        return False
    return ended < cutoff and fields.get("lastEventIndex") == anchor.last_index
