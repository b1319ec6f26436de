"""`broker audit verify`: check the hash chain and the signed digests, and say what was done.

Checks, in the order a report lists them:

- **digests**: each signature verifies with a published audit key; each digest names the
  previous one's signature and document hash, and starts where the previous one ended.
- **modified**: an event whose record no longer hashes to its stored hash, or whose indexed
  columns (what LookupEvents filters on) or resource index disagree with its record.
- **inserted**: a row the broker never wrote: beyond the chain head, or a row nothing links to
  whose neighbours link past it (or that links to nothing).
- **reordered**: events whose stored order disagrees with the order their links give; the
  fewest moves that explain it (the longest run already in chain order stays put).
- **deleted**: missing chain positions, events that link to an event no longer there, and
  events missing after the last one the chain head records.
- **rewritten**: a signed digest records another hash for an event than the trail holds: the
  events it covers were altered and their hashes recomputed.
- **purge**: the trail starts later than the first event or digest with no purge recorded.

Events after the newest digest are protected by the chain alone; the report says how many.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.crypto.keys import AuditKeyRing
from broker.services.audit.chain import (
    GENESIS_HASH,
    HEAD_ID,
    Head,
    chain_hash,
    indexed_columns,
    record_time,
    resource_rows,
)
from broker.services.audit.digests import SignedDigest, digest_time, document_hash, parse_digest_time
from broker.store.models import AuditChainHead, AuditDigest, AuditEvent, AuditResource

PURGE_EVENT = "PurgeAuditEvents"
_ANCHOR = -1
_MISSING = -2


@dataclass(frozen=True)
class Finding:
    kind: str  # digest | modified | inserted | reordered | deleted | rewritten | head | purge
    message: str
    chain_index: int | None = None
    event_id: str | None = None

    def line(self) -> str:
        return f"{self.kind.upper()}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "chainIndex": self.chain_index, "eventId": self.event_id}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    events_checked: int = 0
    digests_checked: int = 0
    first_index: int | None = None
    last_index: int | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "eventsChecked": self.events_checked,
            "digestsChecked": self.digests_checked,
            "firstEventIndex": self.first_index,
            "lastEventIndex": self.last_index,
            "findings": [f.as_dict() for f in self.findings],
            "warnings": self.warnings,
        }


@dataclass
class _Row:
    position: int
    index: int
    event_id: str
    prev_hash: str
    stored_hash: str
    problem: str | None


@dataclass(frozen=True)
class _Digest:
    signed: SignedDigest
    row: AuditDigest
    trusted: bool

    @property
    def index(self) -> int:
        return self.row.digest_index

    def field(self, name: str) -> Any:
        return self.signed.fields.get(name)


def _range(first: int, last: int) -> str:
    return f"#{first}" if first == last else f"#{first}..#{last}"


def _short(value: str) -> str:
    return value[:12]


# --- digests -------------------------------------------------------------------------------------


def _check_digests(session: Session, keys: AuditKeyRing, report: Report) -> list[_Digest]:
    digests: list[_Digest] = []
    for row in session.scalars(select(AuditDigest).order_by(AuditDigest.digest_index)):
        signed = SignedDigest.from_row(row)
        trusted = signed.signature_valid(keys)
        if not trusted:
            report.findings.append(
                Finding("digest", f"digest #{row.digest_index}: the signature does not verify (altered or forged)")
            )
        elif (
            signed.fields.get("digestIndex") != row.digest_index
            or signed.fields.get("firstEventIndex") != row.first_index
            or signed.fields.get("lastEventIndex") != row.last_index
            or signed.fields.get("digestEndTime") != digest_time(row.end_time)
        ):
            report.findings.append(
                Finding("digest", f"digest #{row.digest_index}: its columns differ from its signed document")
            )
        digests.append(_Digest(signed, row, trusted))
    report.digests_checked = len(digests)
    for previous, current in itertools.pairwise(digests):
        if current.index != previous.index + 1:
            report.findings.append(
                Finding("digest", f"digests {_range(previous.index + 1, current.index - 1)} were deleted")
            )
            continue
        if current.field("previousDigestSignature") != previous.signed.signature or current.field(
            "previousDigestHashValue"
        ) != document_hash(previous.signed.document):
            report.findings.append(
                Finding(
                    "digest",
                    f"digest #{current.index} does not chain to digest #{previous.index} "
                    "(previous signature or document hash differs)",
                )
            )
        if current.field("firstEventIndex") != previous.field("lastEventIndex") + 1 or current.field(
            "previousEventHash"
        ) != previous.field("lastEventHash"):
            report.findings.append(
                Finding("digest", f"digest #{current.index} does not continue where digest #{previous.index} ended")
            )
    return digests


# --- events --------------------------------------------------------------------------------------


def _load_rows(session: Session, lo: int, hi: int | None) -> list[_Row]:
    """Rows in chain order from ``lo``; their content checked on the way (records not kept)."""
    condition = [AuditEvent.chain_index >= lo]
    if hi is not None:
        condition.append(AuditEvent.chain_index <= hi)
    resources: dict[int, list[tuple[str | None, str, str]]] = defaultdict(list)
    for seq, kind, name, short in session.execute(
        select(
            AuditResource.event_seq, AuditResource.resource_type, AuditResource.resource_name, AuditResource.short_name
        )
        .join(AuditEvent, AuditEvent.seq == AuditResource.event_seq)
        .where(*condition)
        .order_by(AuditResource.id)
    ):
        resources[seq].append((kind, name, short))
    rows: list[_Row] = []
    statement = (
        select(
            AuditEvent.seq,
            AuditEvent.chain_index,
            AuditEvent.event_id,
            AuditEvent.event_time,
            AuditEvent.event_source,
            AuditEvent.event_name,
            AuditEvent.username,
            AuditEvent.access_key_id,
            AuditEvent.error_code,
            AuditEvent.read_only,
            AuditEvent.account_id,
            AuditEvent.record,
            AuditEvent.prev_hash,
            AuditEvent.event_hash,
        )
        .where(*condition)
        .order_by(AuditEvent.chain_index)
        .execution_options(yield_per=2000)
    )
    for row in session.execute(statement):
        record = row.record if isinstance(row.record, dict) else {}
        problem = None
        try:
            content_ok = chain_hash(row.prev_hash, record) == row.event_hash
        except (TypeError, ValueError):
            content_ok = False
        if not content_ok:
            problem = "its record no longer matches its hash"
        else:
            columns = indexed_columns(record)
            stored = {
                "event_id": row.event_id,
                "event_source": row.event_source,
                "event_name": row.event_name,
                "username": row.username,
                "access_key_id": row.access_key_id,
                "error_code": row.error_code,
                "read_only": bool(row.read_only),
                "account_id": row.account_id,
            }
            differing = [name for name, value in columns.items() if stored[name] != value]
            if record_time(row.event_time) != record.get("eventTime"):
                differing.append("event_time")
            if sorted(resources.get(row.seq, []), key=str) != sorted(resource_rows(record), key=str):
                differing.append("resources")
            if differing:
                problem = f"its indexed columns ({', '.join(differing)}) differ from its record"
        rows.append(_Row(len(rows), int(row.chain_index), str(row.event_id), row.prev_hash, row.event_hash, problem))
    return rows


def _longest_increasing(values: list[int]) -> set[int]:
    """Positions of one longest strictly increasing subsequence (patience sorting)."""
    tails: list[int] = []
    tail_positions: list[int] = []
    previous = [-1] * len(values)
    for position, value in enumerate(values):
        at = bisect.bisect_left(tails, value)
        if at == len(tails):
            tails.append(value)
            tail_positions.append(position)
        else:
            tails[at] = value
            tail_positions[at] = position
        previous[position] = tail_positions[at - 1] if at > 0 else -1
    keep: set[int] = set()
    position = tail_positions[-1] if tail_positions else -1
    while position != -1:
        keep.add(position)
        position = previous[position]
    return keep


def _check_events(
    rows: list[_Row],
    lo: int,
    anchor: str,
    head: Head | None,
    full: bool,
    digests: list[_Digest],
    report: Report,
) -> list[_Row]:
    """Classify what happened to the rows; returns the rows that belong to the chain."""
    findings = report.findings
    by_hash: dict[str, _Row] = {}
    children: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_hash.setdefault(row.stored_hash, row)
        children[row.prev_hash].append(row)

    # Inserted: after the event the chain head names (the broker never wrote past it), or a leaf
    # nothing links to whose predecessor has another successor, or that links to nothing.
    inserted: set[int] = set()
    if full and head is not None:
        head_row = by_hash.get(head.last_hash)
        beyond = (
            [r for r in rows if r.position > head_row.position]
            if head_row is not None
            else [r for r in rows if r.index > head.last_index]
        )
        for row in beyond:
            inserted.add(row.position)
            findings.append(
                Finding(
                    "inserted",
                    f"event #{row.index} ({row.event_id}) lies beyond the chain head (#{head.last_index}): "
                    "the broker never wrote it",
                    row.index,
                    row.event_id,
                )
            )
    candidates = [r for r in rows if r.position not in inserted]
    chain_end = candidates[-1] if candidates else None
    for row in candidates:
        if children.get(row.stored_hash) or row is chain_end:
            continue
        if row.prev_hash != anchor and row.prev_hash not in by_hash:
            orphan = True
        else:
            orphan = any(c is not row for c in children[row.prev_hash])
        if orphan:
            inserted.add(row.position)
            findings.append(
                Finding(
                    "inserted",
                    f"event #{row.index} ({row.event_id}) is not part of the chain: no event links to it "
                    "and its neighbours link past it",
                    row.index,
                    row.event_id,
                )
            )

    kept = [r for r in rows if r.position not in inserted]
    for row in kept:
        if row.problem:
            findings.append(
                Finding("modified", f"event #{row.index} ({row.event_id}): {row.problem}", row.index, row.event_id)
            )
    modified = {r.index for r in kept if r.problem}
    kept_by_hash: dict[str, _Row] = {}
    kept_children: dict[str, list[_Row]] = defaultdict(list)
    for row in kept:
        kept_by_hash.setdefault(row.stored_hash, row)
        kept_children[row.prev_hash].append(row)

    # Reordered: chain order follows the links from the anchor, then from each event whose
    # predecessor is gone; the longest run already in that order stays, the rest moved.
    rank: dict[int, int] = {}
    starts = list(kept_children.get(anchor, []))
    starts += [r for r in kept if r.prev_hash != anchor and r.prev_hash not in kept_by_hash]
    starts += kept  # whatever is left (forged links in a cycle), in stored order
    for start in starts:
        stack = [start]
        while stack:
            row = stack.pop()
            if row.position in rank:
                continue
            rank[row.position] = len(rank)
            stack.extend(reversed(kept_children.get(row.stored_hash, [])))
    in_order = _longest_increasing([rank[r.position] for r in kept])
    for offset, row in enumerate(kept):
        if offset in in_order:
            continue
        predecessor = kept_by_hash.get(row.prev_hash)
        if predecessor is not None:
            where = f"right after event #{predecessor.index} ({predecessor.event_id})"
        else:
            where = "first" if row.prev_hash == anchor else "elsewhere"
        findings.append(
            Finding(
                "reordered",
                f"event #{row.index} ({row.event_id}) is out of order: the chain puts it {where}",
                row.index,
                row.event_id,
            )
        )

    # Deleted: missing positions, links to events that are gone, a head that names a lost event.
    present = sorted({r.index for r in rows})  # an inserted row still takes up its position
    expected = lo
    for index in present:
        if index > expected:
            findings.append(Finding("deleted", f"events {_range(expected, index - 1)} were deleted", expected))
        expected = max(expected, index + 1)
    head_found = head is not None and head.last_hash in kept_by_hash
    if full and head is not None and not head_found and head.last_index >= lo:
        if expected <= head.last_index:
            findings.append(
                Finding(
                    "deleted",
                    f"events {_range(expected, head.last_index)} were deleted "
                    f"(the chain head records #{head.last_index})",
                    expected,
                )
            )
        else:
            findings.append(
                Finding(
                    "head",
                    f"the chain head records hash {_short(head.last_hash)} for event #{head.last_index}, which no "
                    "event has: the newest events were rewritten, or the head was altered",
                )
            )
    present_set = set(present)
    for row in kept:
        if row.prev_hash == anchor or row.prev_hash in kept_by_hash:
            continue
        if row.index > lo and row.index - 1 not in present_set:
            continue  # a missing position, reported above
        if row.index in modified or row.index - 1 in modified:
            continue  # its own link, or its predecessor's hash, was altered: reported as modified
        if row.index == lo:
            findings.append(
                Finding(
                    "deleted",
                    f"event #{row.index} ({row.event_id}) does not link to the start of the trail: "
                    "earlier events were deleted and the rest renumbered",
                    row.index,
                    row.event_id,
                )
            )
            continue
        previous = row.index - 1
        if _count_matches_digest(digests, present_set, kept_by_hash, previous):
            findings.append(
                Finding(
                    "modified",
                    f"event #{previous}: altered and re-hashed (event #{row.index} still links to its old hash, "
                    "and the signed digest's event count rules out a deletion)",
                    previous,
                )
            )
        else:
            findings.append(
                Finding(
                    "deleted",
                    f"event #{row.index} ({row.event_id}) links to an event that is not in the trail: events "
                    f"before it were deleted and the rest renumbered, or event #{previous} was altered and re-hashed",
                    row.index,
                    row.event_id,
                )
            )
    return kept


def _count_matches_digest(digests: list[_Digest], present: set[int], by_hash: dict[str, _Row], index: int) -> bool:
    """Whether a trusted digest covering ``index`` still has all its events, none renumbered.

    Then a broken link inside its range cannot be a deletion: the event before it was re-hashed.
    """
    for digest in digests:
        first, last, count = (digest.field(k) for k in ("firstEventIndex", "lastEventIndex", "eventCount"))
        if isinstance(first, int) and isinstance(last, int) and first <= index < last:
            end = by_hash.get(str(digest.field("lastEventHash")))
            complete = sum(1 for i in range(first, last + 1) if i in present) == count
            return bool(complete and end is not None and end.index == last)
    return False


def _check_digest_coverage(digests: list[_Digest], kept: list[_Row], lo: int, report: Report) -> None:
    """Each signed digest's last event must still be in the trail with the hash it signed."""
    hashes = {r.stored_hash for r in kept}
    by_index = {r.index: r for r in kept}
    for digest in digests:
        first, last, count = (digest.field(k) for k in ("firstEventIndex", "lastEventIndex", "eventCount"))
        if not digest.trusted or not isinstance(last, int) or not isinstance(first, int) or not count or last < lo:
            continue
        signed_hash = str(digest.field("lastEventHash"))
        stored = by_index.get(last)
        if signed_hash in hashes or stored is None:
            continue  # in place, or moved / deleted (reported from the chain itself)
        report.findings.append(
            Finding(
                "rewritten",
                f"digest #{digest.index} (signed {digest.field('digestEndTime')}) records hash "
                f"{_short(signed_hash)} for event #{last}, which no event has (#{last} holds "
                f"{_short(stored.stored_hash)}): events {_range(max(first, lo), last)} were altered and re-hashed",
                last,
                stored.event_id,
            )
        )


# --- the whole check -----------------------------------------------------------------------------


def _read_head(session: Session) -> Head | None:
    row = session.execute(
        select(AuditChainHead.last_index, AuditChainHead.last_hash).where(AuditChainHead.id == HEAD_ID)
    ).first()
    return Head(int(row.last_index), str(row.last_hash)) if row is not None else None


def verify_trail(
    session: Session,
    keys: AuditKeyRing,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    now: dt.datetime | None = None,
    interval_seconds: int | None = None,
) -> Report:
    """Verify the events (between the digests around ``start`` and ``end``, if given) and all digests."""
    report = Report()
    digests = _check_digests(session, keys, report)
    head = _read_head(session)
    full = start is None and end is None
    if head is None:
        report.findings.append(Finding("head", "the chain-head row is missing"))

    # Where the trail starts: event #1, or after the digest a recorded purge kept as its anchor.
    lo, anchor = 1, GENESIS_HASH
    purge_anchor_digest: _Digest | None = None
    purge_rows = session.execute(
        select(AuditEvent.record).where(AuditEvent.event_name == PURGE_EVENT).order_by(AuditEvent.chain_index)
    ).scalars()
    purge_anchors = sorted(
        {
            int(value)
            for record in purge_rows
            if isinstance(record, dict)
            and isinstance(value := (record.get("requestParameters") or {}).get("anchorDigestIndex"), int)
        }
    )
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
            Finding("purge", f"digests {_range(1, first_digest.index - 1)} are missing and no purge was recorded")
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

    rows = _load_rows(session, lo, hi)
    report.events_checked = len(rows)
    if rows:
        report.first_index, report.last_index = rows[0].index, rows[-1].index
    kept = _check_events(rows, lo, anchor, head, full, [d for d in digests if d.trusted], report)
    _check_digest_coverage(digests, kept, lo, report)

    trusted = [d for d in digests if d.trusted]
    if not trusted:
        if rows:
            report.warnings.append("no signed digest yet: only the hash chain protects the trail")
    else:
        newest = trusted[-1]
        covered = int(newest.field("lastEventIndex"))
        tail = [r for r in rows if r.index > covered]
        if tail:
            report.warnings.append(
                f"{len(tail)} event(s) ({_range(tail[0].index, tail[-1].index)}) are newer than the newest digest "
                f"(#{newest.index}, {newest.field('digestEndTime')}): only the hash chain protects them until the next"
            )
        if now is not None and interval_seconds is not None:
            age = (now - parse_digest_time(str(newest.field("digestEndTime")))).total_seconds()
            if age > 2 * interval_seconds + 60:
                report.warnings.append(
                    f"the newest digest is {int(age)} s old (interval {interval_seconds} s): is `broker serve` running?"
                )
    return report
