"""The whole check: where the trail starts and ends, then the digests and the events between."""

from __future__ import annotations

import datetime as dt

from broker.crypto.keys import AuditKeyRing
from broker.services.audit.digests import parse_digest_time
from broker.services.audit.retention import PURGE_EVENT
from broker.services.audit.verify.chain_checks import check_digest_coverage, check_events, load_rows
from broker.services.audit.verify.digest_checks import CheckedDigest, check_digests
from broker.services.audit.verify.origin_checks import (
    check_cut_back,
    check_gaps,
    check_origin,
    check_tail,
    describe_origin,
)
from broker.services.audit.verify.report import Finding, Report, span
from broker.store import Tx
from broker.store.audit.chain import GENESIS_HASH, read_head
from broker.store.audit.events import count_before, positions_named


def verify_trail(
    tx: Tx,
    keys: AuditKeyRing,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    now: dt.datetime | None = None,
    interval_seconds: int | None = None,
) -> Report:
    """Verify the events (between the digests around ``start`` and ``end``, if given) and all digests.

    With ``now`` and ``interval_seconds``, also whether the trail still ends where it should: its
    newest digest younger than the interval allows (unless ``end`` is given), and gaps between digests.
    """
    report = Report()
    digests = check_digests(tx, keys, report)
    head = read_head(tx)
    full = start is None and end is None
    if head is None:
        report.findings.append(Finding("head", "the chain-head row is missing"))

    # Where the trail starts: event #1, or after the digest a recorded purge kept as its anchor.
    lo, anchor = 1, GENESIS_HASH
    purge_anchor_digest: CheckedDigest | None = None
    purge_anchors = _purge_anchors(tx, digests, report)
    first_digest = digests[0] if digests else None
    if purge_anchors:
        wanted = purge_anchors[-1]
        purge_anchor_digest = next((d for d in digests if d.index == wanted), None)
        if purge_anchor_digest is None:
            report.findings.append(
                Finding("purge", f"digest #{wanted}, which the last purge kept as the trail's anchor, was deleted")
            )
        elif first_digest is not None and first_digest.index < wanted:
            report.warnings.append(f"digests before #{wanted} were kept by the last purge")
        if purge_anchor_digest is not None:
            lo = int(purge_anchor_digest.field("lastEventIndex")) + 1
            anchor = str(purge_anchor_digest.field("lastEventHash"))
    elif first_digest is not None and first_digest.index != 1:
        report.findings.append(
            Finding("purge", f"digests {span(1, first_digest.index - 1)} are missing and no purge was recorded")
        )
    elif first_digest is not None and first_digest.field("previousEventHash") != GENESIS_HASH:
        report.findings.append(Finding("digest", "digest #1 does not start at the beginning of the chain"))

    hi: int | None = None
    if start is not None:
        before = [
            d
            for d in digests
            if d.trusted
            and parse_digest_time(str(d.field("digestEndTime"))) <= start
            and d.index >= (purge_anchor_digest.index if purge_anchor_digest else 0)
        ]
        if before:
            lo = int(before[-1].field("lastEventIndex")) + 1
            anchor = str(before[-1].field("lastEventHash"))
    if end is not None:
        after = [d for d in digests if d.trusted and parse_digest_time(str(d.field("digestEndTime"))) >= end]
        if after:
            hi = int(after[0].field("lastEventIndex"))

    if full and (stray := count_before(tx, lo)):
        # A purge deletes every event up to its anchor; a row before where the trail starts was
        # never checked, yet LookupEvents would list it.
        report.findings.append(
            Finding("inserted", f"{stray} event(s) are stored before #{lo}, where the trail starts: never verified")
        )
    rows = load_rows(tx, lo, hi)
    report.events_checked = len(rows)
    if rows:
        report.first_index, report.last_index = rows[0].index, rows[-1].index
    kept = check_events(rows, lo, anchor, head, full, [d for d in digests if d.trusted], report)
    check_digest_coverage(digests, kept, lo, report)

    check_origin(digests, len(rows), report)
    check_cut_back(digests, report)
    report.origin = describe_origin(digests, purge_anchor_digest)
    if interval_seconds is not None:
        check_gaps(digests, interval_seconds, report)
        if now is not None and end is None:
            check_tail(digests, now, interval_seconds, report)

    trusted = [d for d in digests if d.trusted]
    if trusted:
        newest = trusted[-1]
        covered = int(newest.field("lastEventIndex"))
        tail = [r for r in rows if r.index > covered]
        if tail:
            report.warnings.append(
                f"{len(tail)} event(s) ({span(tail[0].index, tail[-1].index)}) are newer than the newest digest "
                f"(#{newest.index}, {newest.field('digestEndTime')}): only the hash chain protects them until the next"
            )
    return report


def _purge_anchors(tx: Tx, digests: list[CheckedDigest], report: Report) -> list[int]:
    """The digests that recorded purges kept as the trail's anchor, oldest first.

    A purge is written after the digest it keeps, so its own position lies past that digest's
    last event, inside the part of the chain verification then checks. A purge record anywhere
    else (before its anchor, or naming no digest there is) was not written by a purge: it is
    reported and ignored, so it cannot move where verification starts."""
    last_event = {d.index: d.field("lastEventIndex") for d in digests}
    anchors: set[int] = set()
    for position, record in positions_named(tx, PURGE_EVENT):
        wanted = (record.get("requestParameters") or {}).get("anchorDigestIndex")
        if not isinstance(wanted, int):
            continue
        covered = last_event.get(wanted)
        if isinstance(covered, int) and position <= covered:
            report.findings.append(
                Finding(
                    "inserted",
                    f"event #{position} records a purge kept by digest #{wanted}, which covers it: "
                    "no purge wrote it, so it is ignored",
                    position,
                )
            )
            continue
        anchors.add(wanted)
    return sorted(anchors)
