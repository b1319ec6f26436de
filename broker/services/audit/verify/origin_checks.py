"""Where the trail begins and whether it ends where it should: wiped, cut back, or gaps.

Everything here reads signed digest documents only, so none of it can be faked without the audit key:

- **wiped**: no digest carries a valid signature. `broker init` writes the genesis digest when it
  sets up the database and a purge always keeps its anchor, so a trail without one was emptied.
- **truncated**: the newest digest is older than the interval plus its slack
  (:func:`broker.services.audit.digests.overdue_after`): newer digests were deleted, or no broker
  has written one since; or a digest records that its writer had seen a newer digest than the
  trail ended with (``missingDigests``).
- gaps between two digests further apart than that are warnings: no broker ran, or digests were
  deleted while none ran. The broker cannot tell these apart; the operator can.
"""

from __future__ import annotations

import datetime as dt
import itertools

from broker.services.audit.digests import overdue_after, parse_digest_time
from broker.services.audit.verify.digest_checks import CheckedDigest
from broker.services.audit.verify.report import Finding, Report

_MAX_GAP_WARNINGS = 20


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 3 h``."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{secs} s"


def _end(digest: CheckedDigest) -> dt.datetime | None:
    try:
        return parse_digest_time(str(digest.field("digestEndTime")))
    except ValueError:
        return None


def describe_origin(digests: list[CheckedDigest], purge_anchor: CheckedDigest | None) -> str | None:
    """Where the trail begins, in words, for the report."""
    if purge_anchor is not None:
        return (
            f"the trail starts after digest #{purge_anchor.index} ({purge_anchor.field('digestEndTime')}), "
            "which the last retention purge kept as its anchor"
        )
    first = next((d for d in digests if d.trusted), None)
    if first is None or first.index != 1:
        return None
    if first.field("digestTrigger") == "genesis":
        return f"the trail began at {first.field('digestStartTime')} (genesis digest #1, written by `broker init`)"
    return f"the trail began at {first.field('digestStartTime')} (digest #1, written before genesis digests existed)"


def check_origin(digests: list[CheckedDigest], events: int, report: Report) -> None:
    """A trail must hold a signed digest: the genesis, or the anchor a purge kept."""
    if any(d.trusted for d in digests):
        return
    remaining = f"; its {events} event(s) are protected by nothing but the hash chain" if events else ""
    if digests:
        message = (
            "no digest carries a valid signature, not even a genesis digest: the digests the broker signed "
            f"were deleted or replaced{remaining}"
        )
    else:
        message = (
            "the trail holds no digest, not even the genesis digest `broker init` writes when it sets up the "
            "database: its digests were deleted, and nothing proves its events and chain head were not deleted "
            f"and reset with them{remaining}"
        )
    report.findings.append(Finding("wiped", message))


def check_cut_back(digests: list[CheckedDigest], report: Report) -> None:
    """Digests whose writer saw a newer digest than the trail ended with when it wrote them."""
    for digest in digests:
        missing = digest.field("missingDigests")
        if not digest.trusted or not isinstance(missing, dict):
            continue
        found = missing.get("foundDigestIndex")
        ended = f"the trail then ended at digest #{found}" if found is not None else "the trail then held no digest"
        report.findings.append(
            Finding(
                "truncated",
                f"digest #{digest.index} (written {digest.field('digestEndTime')}) records that the trail had been "
                f"cut back: the broker that wrote it had seen digest #{missing.get('seenDigestIndex')}, and {ended}",
            )
        )


def _gap_reason(before: CheckedDigest) -> str:
    trigger = before.field("digestTrigger")
    if trigger == "genesis":
        return f"#{before.index} is the genesis digest and no broker had started yet"
    if trigger == "shutdown":
        return f"#{before.index} was written at a clean shutdown"
    return "brokers stopped without a final digest, or could not reach the database"


def check_gaps(digests: list[CheckedDigest], interval_seconds: int, report: Report) -> None:
    """Warn of digests further apart than the interval allows: downtime, or deletions while down."""
    limit = overdue_after(interval_seconds)
    gaps: list[str] = []
    trusted = [d for d in digests if d.trusted]
    for before, after in itertools.pairwise(trusted):
        start, end = _end(before), _end(after)
        if after.index != before.index + 1 or start is None or end is None:
            continue
        if (end - start).total_seconds() > limit:
            gaps.append(
                f"no digest between {before.field('digestEndTime')} (#{before.index}) and "
                f"{after.field('digestEndTime')} (#{after.index}), {duration((end - start).total_seconds())} with "
                f"digests due every {interval_seconds} s: no broker wrote digests then ({_gap_reason(before)}), "
                "or digests were deleted while none ran"
            )
    report.warnings.extend(gaps[:_MAX_GAP_WARNINGS])
    if len(gaps) > _MAX_GAP_WARNINGS:
        report.warnings.append(f"... and {len(gaps) - _MAX_GAP_WARNINGS} more such gaps")


def check_tail(digests: list[CheckedDigest], now: dt.datetime, interval_seconds: int, report: Report) -> None:
    """The newest digest must be younger than the interval plus its slack."""
    trusted = [d for d in digests if d.trusted]
    if not trusted:
        return
    newest = trusted[-1]
    written = _end(newest)
    if written is None:
        return
    age = (now - written).total_seconds()
    if age <= overdue_after(interval_seconds):
        return
    if newest.field("digestTrigger") == "genesis":
        message = (
            f"the newest digest is the genesis digest #{newest.index} that `broker init` wrote at "
            f"{newest.field('digestEndTime')}, {duration(age)} ago, and a broker writes one every "
            f"{interval_seconds} s: the digests and events after it were deleted, or no broker has run since "
            "`broker init` (then run `broker audit digest` and verify again)"
        )
    else:
        stopped = " (it was written at a clean shutdown)" if newest.field("digestTrigger") == "shutdown" else ""
        message = (
            f"the newest digest, #{newest.index}{stopped}, was written at {newest.field('digestEndTime')}, "
            f"{duration(age)} ago, and a broker writes one every {interval_seconds} s: newer digests and events "
            f"were deleted (the trail was cut back to #{newest.index}), or no broker has written a digest since "
            "(then start `broker serve` or run `broker audit digest`, and verify again)"
        )
    report.findings.append(Finding("truncated", message))
