"""The trail as the `broker audit` command works on it: open it, verify, export and follow it.

Long reads go through read-only snapshots (:mod:`broker.store.audit.snapshots`), so a command
never holds the write lock that requests wait on.
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

from broker.errors import BrokerError
from broker.services.audit.export import ExportFormat, ExportResult, export_trail
from broker.services.audit.operator import record_operator_event
from broker.services.audit.verify import Report, verify_trail
from broker.services.runtime import Runtime
from broker.store.audit.events import newest_index, newest_records, records_after
from broker.store.audit.snapshots import DatabaseUnreachable, Reader, has_audit_trail

_TAIL_BATCH = 500


class AuditTrailUnavailable(BrokerError):
    """The database cannot be opened, or holds no audit trail yet."""

    code = "AuditTrailUnavailable"
    status = 503


def open_trail(runtime: Runtime) -> None:
    """Check that the database answers and has the audit tables; raise AuditTrailUnavailable if not."""
    try:
        present = has_audit_trail(runtime.db)
    except DatabaseUnreachable as exc:
        raise AuditTrailUnavailable(f"cannot open the database: {exc.cause}") from None
    if not present:
        raise AuditTrailUnavailable(
            "the database has no audit trail yet: run `broker init` (it creates or upgrades the schema)"
        )


def verify(runtime: Runtime, *, start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime) -> Report:
    """`broker audit verify` on one snapshot: the events between the digests around ``start`` and
    ``end`` (all if not given) and every digest."""
    with Reader(runtime.db) as reader, reader.snapshot() as tx:
        return verify_trail(
            tx,
            runtime.keys.audit_keys,
            start=start,
            end=end,
            now=now,
            interval_seconds=runtime.settings.audit_digest_interval_seconds,
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def export(
    runtime: Runtime, directory: Path, *, since: dt.datetime | None, export_format: ExportFormat
) -> ExportResult:
    """Write the digests that end at or after ``since`` (all if None) and their events to
    ``directory``; the export is itself audited. Raises OSError when the files cannot be written."""
    directory.mkdir(parents=True, exist_ok=True)
    with Reader(runtime.db) as reader, reader.snapshot() as tx:
        result = export_trail(tx, directory, since=since, export_format=export_format)
    with runtime.db.transaction() as tx:
        record_operator_event(
            runtime,
            tx,
            "ExportAuditEvents",
            {"since": since.isoformat() if since else None, "format": export_format, "events": result.events},
            event_source="broker.audit",
            request_id=str(uuid.uuid4()),
            read_only=True,
            additional={"osUser": _os_user()},
        )
    return result


def follow(
    runtime: Runtime, *, backlog: int, keep_following: bool, timeout: float | None, poll: float
) -> Generator[dict[str, Any], None, None]:
    """The ``backlog`` newest records, then (``keep_following``) each new one as it commits, until
    ``timeout`` seconds have passed (never, if None). Close the iterator to stop early."""
    deadline = time.monotonic() + timeout if timeout is not None else None
    # Positions are assigned under the chain lock and committed in order, so following the
    # position never skips an event that commits later.
    with Reader(runtime.db) as reader:
        with reader.snapshot() as tx:
            cursor = newest_index(tx)
            recent = newest_records(tx, backlog)
        for _index, record in recent:
            yield record
        while keep_following and (deadline is None or time.monotonic() < deadline):
            with reader.snapshot() as tx:
                fresh = records_after(tx, cursor, _TAIL_BATCH)
            for index, record in fresh:
                cursor = index
                yield record
            if not fresh:
                time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
