"""Reading and purging audit events: records in chain order, LookupEvents pages, verification rows."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Text, cast, delete, func, or_, select
from sqlalchemy.orm import selectinload

from broker.store.db import Tx
from broker.store.models import AuditDigest, AuditEvent, AuditResource

# The columns LookupEvents filters on (resource_* through the resource index).
LookupField = Literal[
    "event_id", "event_name", "event_source", "username", "access_key_id", "read_only", "resource_type", "resource_name"
]
ResourceEntry = tuple[str | None, str, str]  # (type, name, short name)


# --- records in chain order ----------------------------------------------------------------------


# A record as the text stored, parsed by :func:`_record`: text that is not JSON (or nested past the
# parser) reads as {} instead of raising out of the whole read, for verification to report.
_RECORD_TEXT = cast(AuditEvent.record, Text)


def records_between(tx: Tx, first_index: int, last_index: int) -> Iterator[dict[str, Any]]:
    """The records at chain positions ``first_index..last_index``, in chain order."""
    statement = (
        select(_RECORD_TEXT)
        .where(AuditEvent.chain_index.between(first_index, last_index))
        .order_by(AuditEvent.chain_index)
        .execution_options(yield_per=2000)
    )
    for text in tx.scalars(statement):
        yield _record(text)  # damage shows: a copy no longer hashes


def records_named(tx: Tx, event_name: str) -> Iterator[dict[str, Any]]:
    """The records of every event called ``event_name``, in chain order."""
    for _position, record in positions_named(tx, event_name):
        yield record


def positions_named(tx: Tx, event_name: str) -> list[tuple[int, dict[str, Any]]]:
    """The (chain position, record) of every event called ``event_name``, in chain order."""
    statement = (
        select(AuditEvent.chain_index, _RECORD_TEXT)
        .where(AuditEvent.event_name == event_name)
        .order_by(AuditEvent.chain_index)
    )
    return [(int(index), _record(text)) for index, text in tx.execute(statement)]


def count_before(tx: Tx, index: int) -> int:
    """How many events are stored at positions before ``index``."""
    return int(tx.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.chain_index < index)) or 0)


def newest_index(tx: Tx) -> int:
    """The chain position of the newest event; 0 when there is none."""
    return int(tx.scalar(select(func.max(AuditEvent.chain_index))) or 0)


def newest_records(tx: Tx, count: int) -> list[tuple[int, dict[str, Any]]]:
    """The ``count`` newest (position, record) pairs, oldest first."""
    rows = tx.execute(
        select(AuditEvent.chain_index, AuditEvent.record).order_by(AuditEvent.chain_index.desc()).limit(max(count, 0))
    )
    return [(int(index), record) for index, record in reversed(list(rows))]


def records_after(tx: Tx, index: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """Up to ``limit`` (position, record) pairs after chain position ``index``, in chain order."""
    rows = tx.execute(
        select(AuditEvent.chain_index, AuditEvent.record)
        .where(AuditEvent.chain_index > index)
        .order_by(AuditEvent.chain_index)
        .limit(limit)
    )
    return [(int(position), record) for position, record in rows]


# --- LookupEvents --------------------------------------------------------------------------------


def _condition(field: LookupField, value: str | bool) -> ColumnElement[bool]:
    if field == "read_only":
        return AuditEvent.read_only.is_(bool(value))
    if field == "resource_type":
        matching = select(AuditResource.event_seq).where(AuditResource.resource_type == value)
        return AuditEvent.seq.in_(matching)
    if field == "resource_name":
        matching = select(AuditResource.event_seq).where(
            or_(AuditResource.resource_name == value, AuditResource.short_name == value)
        )
        return AuditEvent.seq.in_(matching)
    column = {
        "event_id": AuditEvent.event_id,
        "event_name": AuditEvent.event_name,
        "event_source": AuditEvent.event_source,
        "username": AuditEvent.username,
        "access_key_id": AuditEvent.access_key_id,
    }[field]
    return column == value


@dataclass(frozen=True, slots=True)
class LookedUpEvent:
    """An event as LookupEvents lists it."""

    chain_index: int
    event_id: str
    event_name: str
    event_source: str
    event_time: dt.datetime
    read_only: bool
    access_key_id: str | None
    username: str | None
    resources: tuple[tuple[str | None, str], ...]  # (type, name)
    record: dict[str, Any]


def lookup_page(
    tx: Tx,
    *,
    account_id: str,
    include_unowned: bool,
    attribute: tuple[LookupField, str | bool] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    before_index: int | None,
    limit: int,
) -> list[LookedUpEvent]:
    """Up to ``limit`` management events of ``account_id`` (and, if ``include_unowned``, of no
    account), newest first, with their resources: matching ``attribute``, in ``start..end``, before
    ``before_index``. Data events are left out, as CloudTrail's LookupEvents leaves them out."""
    own = AuditEvent.account_id == account_id
    statement = (
        select(AuditEvent)
        .options(selectinload(AuditEvent.resources))
        .where(AuditEvent.management_event.is_(True))
        .where(or_(own, AuditEvent.account_id.is_(None)) if include_unowned else own)
    )
    if attribute is not None:
        statement = statement.where(_condition(*attribute))
    if start is not None:
        statement = statement.where(AuditEvent.event_time >= start)
    if end is not None:
        statement = statement.where(AuditEvent.event_time <= end)
    if before_index is not None:
        statement = statement.where(AuditEvent.chain_index < before_index)
    rows = tx.scalars(statement.order_by(AuditEvent.chain_index.desc()).limit(limit))
    return [
        LookedUpEvent(
            chain_index=row.chain_index,
            event_id=row.event_id,
            event_name=row.event_name,
            event_source=row.event_source,
            event_time=row.event_time,
            read_only=row.read_only,
            access_key_id=row.access_key_id,
            username=row.username,
            resources=tuple((r.resource_type, r.resource_name) for r in row.resources),
            record=row.record,
        )
        for row in rows
    ]


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event row as stored, every column verification compares with the record."""

    seq: int
    chain_index: int
    event_id: str
    event_time: dt.datetime
    event_source: str
    event_name: str
    username: str | None
    access_key_id: str | None
    error_code: str | None
    read_only: bool
    management_event: bool
    account_id: str | None
    record: dict[str, Any]
    prev_hash: str
    event_hash: str


def _between(lo: int, hi: int | None) -> list[ColumnElement[bool]]:
    condition = [AuditEvent.chain_index >= lo]
    if hi is not None:
        condition.append(AuditEvent.chain_index <= hi)
    return condition


def stored_events(tx: Tx, lo: int, hi: int | None) -> Iterator[StoredEvent]:
    """The events at chain positions ``lo..hi`` (``hi`` None: to the end), in chain order.

    The record is read as the text stored and parsed here: a row whose text is not a JSON object
    has ``record`` ``{}`` (its hash then fails, for verification to report), where the column's
    own decoding would raise and stop the whole read."""
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
            AuditEvent.management_event,
            AuditEvent.account_id,
            _RECORD_TEXT.label("record"),
            AuditEvent.prev_hash,
            AuditEvent.event_hash,
        )
        .where(*_between(lo, hi))
        .order_by(AuditEvent.chain_index)
        .execution_options(yield_per=2000)
    )
    for row in tx.execute(statement):
        values = row._asdict()
        values["record"] = _record(values["record"])
        yield StoredEvent(**values)


def _record(text: str | None) -> dict[str, Any]:
    """A record read as text (:data:`_RECORD_TEXT`); ``{}`` for text that is not a JSON object
    (or is nested past the parser), which hashes to nothing the chain holds."""
    try:
        record = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


def resource_index(tx: Tx, lo: int, hi: int | None) -> dict[int, list[ResourceEntry]]:
    """The indexed resources of the events at positions ``lo..hi``, by event ``seq``."""
    resources: dict[int, list[ResourceEntry]] = defaultdict(list)
    statement = (
        select(
            AuditResource.event_seq, AuditResource.resource_type, AuditResource.resource_name, AuditResource.short_name
        )
        .join(AuditEvent, AuditEvent.seq == AuditResource.event_seq)
        .where(*_between(lo, hi))
        .order_by(AuditResource.id)
    )
    for seq, kind, name, short in tx.execute(statement):
        resources[seq].append((kind, name, short))
    return resources


# --- retention -----------------------------------------------------------------------------------


def count_events_through(tx: Tx, last_index: int) -> int:
    return int(tx.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.chain_index <= last_index)) or 0)


def count_digests_before(tx: Tx, digest_index: int) -> int:
    return int(
        tx.scalar(select(func.count()).select_from(AuditDigest).where(AuditDigest.digest_index < digest_index)) or 0
    )


def delete_through(tx: Tx, *, last_index: int, digest_index: int) -> None:
    """Delete the events up to chain position ``last_index`` (and their resource index) and the
    digests before ``digest_index``."""
    doomed = select(AuditEvent.seq).where(AuditEvent.chain_index <= last_index)
    tx.execute(delete(AuditResource).where(AuditResource.event_seq.in_(doomed)))
    tx.execute(delete(AuditEvent).where(AuditEvent.chain_index <= last_index))
    tx.execute(delete(AuditDigest).where(AuditDigest.digest_index < digest_index))
