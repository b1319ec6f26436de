"""The events' checks: what was modified, inserted, reordered, deleted or rewritten."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from broker.services.audit.chain import chain_hash, indexed_columns, record_time, resource_rows
from broker.services.audit.verify.digest_checks import CheckedDigest
from broker.services.audit.verify.report import Finding, Report, short_hash, span
from broker.store import Tx
from broker.store.audit.chain import ChainHead
from broker.store.audit.events import resource_index, stored_events


@dataclass
class EventRow:
    position: int
    index: int
    event_id: str
    prev_hash: str
    stored_hash: str
    problem: str | None


def load_rows(tx: Tx, lo: int, hi: int | None) -> list[EventRow]:
    """Rows in chain order from ``lo``; their content checked on the way (records not kept)."""
    resources = resource_index(tx, lo, hi)
    rows: list[EventRow] = []
    for row in stored_events(tx, lo, hi):
        record = row.record  # {} for a row whose text is not a JSON object
        problem = None
        try:
            content_ok = chain_hash(row.prev_hash, record) == row.event_hash
        except (TypeError, ValueError):
            content_ok = False
        if not content_ok:
            problem = "its record no longer matches its hash"
        else:
            problem = _columns_problem(row, record, resources)
        rows.append(
            EventRow(len(rows), int(row.chain_index), str(row.event_id), row.prev_hash, row.event_hash, problem)
        )
    return rows


def _columns_problem(row: Any, record: dict[str, Any], resources: dict[int, list[Any]]) -> str | None:
    """How the row's indexed columns and resources differ from its record, if they do. A record
    whose hash holds but whose shape is not a CloudTrail record's (a forged row hashed by its
    forger) is a finding, never an exception."""
    try:
        return _differing_columns(row, record, resources)
    except (TypeError, AttributeError, ValueError):
        return "its record is not a CloudTrail record the broker wrote"


def _differing_columns(row: Any, record: dict[str, Any], resources: dict[int, list[Any]]) -> str | None:
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
        "management_event": bool(row.management_event),
    }
    differing = [name for name, value in columns.items() if stored[name] != value]
    if record_time(row.event_time) != record.get("eventTime"):
        differing.append("event_time")
    if sorted(resources.get(row.seq, []), key=str) != sorted(resource_rows(record), key=str):
        differing.append("resources")
    return f"its indexed columns ({', '.join(differing)}) differ from its record" if differing else None


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


def check_events(
    rows: list[EventRow],
    lo: int,
    anchor: str,
    head: ChainHead | None,
    full: bool,
    digests: list[CheckedDigest],
    report: Report,
) -> list[EventRow]:
    """Classify what happened to the rows; returns the rows that belong to the chain."""
    findings = report.findings
    by_hash: dict[str, EventRow] = {}
    children: dict[str, list[EventRow]] = defaultdict(list)
    for row in rows:
        by_hash.setdefault(row.stored_hash, row)
        children[row.prev_hash].append(row)

    # Inserted: after the event the chain head names (the broker never wrote past it), or a leaf
    # nothing links to whose predecessor has another successor, or that links to nothing.
    inserted: set[int] = set()
    if full and head is not None:
        head_row = by_hash.get(head.last_hash)
        if head_row is not None and head_row.index != head.last_index:
            # The next append takes last_index + 1: a position taken already fails every audited
            # request, and one further on leaves a gap that would read as deleted events.
            findings.append(
                Finding(
                    "head",
                    f"the chain head records position #{head.last_index} for the hash of event #{head_row.index}: "
                    "the head was altered",
                )
            )
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
    kept_by_hash: dict[str, EventRow] = {}
    kept_children: dict[str, list[EventRow]] = defaultdict(list)
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
            findings.append(Finding("deleted", f"events {span(expected, index - 1)} were deleted", expected))
        expected = max(expected, index + 1)
    head_found = head is not None and head.last_hash in kept_by_hash
    if full and head is not None and not head_found and head.last_index >= lo:
        if expected <= head.last_index:
            findings.append(
                Finding(
                    "deleted",
                    f"events {span(expected, head.last_index)} were deleted "
                    f"(the chain head records #{head.last_index})",
                    expected,
                )
            )
        else:
            findings.append(
                Finding(
                    "head",
                    f"the chain head records hash {short_hash(head.last_hash)} for event #{head.last_index}, which no "
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
        if count_matches_digest(digests, present, kept_by_hash, previous):
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


def count_matches_digest(
    digests: list[CheckedDigest], present: list[int], by_hash: dict[str, EventRow], index: int
) -> bool:
    """Whether a trusted digest covering ``index`` still has all its events, none renumbered.

    Then a broken link inside its range cannot be a deletion: the event before it was re-hashed.
    ``present`` is sorted: the count is two bisections, so a trail with a broken link at every
    other event costs no more than its size times a logarithm to verify (a scan of the range
    per link made it quadratic).
    """
    for digest in digests:
        first, last, count = (digest.field(k) for k in ("firstEventIndex", "lastEventIndex", "eventCount"))
        if isinstance(first, int) and isinstance(last, int) and first <= index < last:
            end = by_hash.get(str(digest.field("lastEventHash")))
            complete = bisect.bisect_right(present, last) - bisect.bisect_left(present, first) == count
            return bool(complete and end is not None and end.index == last)
    return False


def check_digest_coverage(digests: list[CheckedDigest], kept: list[EventRow], lo: int, report: Report) -> None:
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
                f"{short_hash(signed_hash)} for event #{last}, which no event has (#{last} holds "
                f"{short_hash(stored.stored_hash)}): events {span(max(first, lo), last)} were altered and re-hashed",
                last,
                stored.event_id,
            )
        )
