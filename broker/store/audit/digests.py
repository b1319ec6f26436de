"""Signed digest rows: the latest, a new one, those a purge keeps or drops, and the times they cover."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from broker.store._snapshot import snapshot
from broker.store.db import Tx
from broker.store.models import AuditDigest, AuditEvent


@dataclass(frozen=True)
class DigestRecord:
    """A digest as written: the events it covers, the time it closes, its signed document and signature."""

    digest_index: int
    first_index: int
    last_index: int
    start_time: dt.datetime
    end_time: dt.datetime
    document: str
    signature: str
    key_id: str


def latest_digest(tx: Tx) -> DigestRecord | None:
    row = tx.scalars(select(AuditDigest).order_by(AuditDigest.digest_index.desc()).limit(1)).first()
    return snapshot(DigestRecord, row)


def digest_signature(tx: Tx, digest_index: int) -> str | None:
    """The signature of digest ``digest_index``; None if there is no such digest."""
    return tx.scalar(select(AuditDigest.signature).where(AuditDigest.digest_index == digest_index))


def first_digest_index(tx: Tx) -> int | None:
    return tx.scalar(select(func.min(AuditDigest.digest_index)))


def last_digest_end(tx: Tx) -> dt.datetime | None:
    """When the newest digest's range ends; None before the first digest."""
    return tx.scalar(select(func.max(AuditDigest.end_time)))


def digests(tx: Tx, *, ending_since: dt.datetime | None = None) -> Iterator[DigestRecord]:
    """Every digest in order, or those that end at or after ``ending_since``."""
    statement = select(AuditDigest).order_by(AuditDigest.digest_index)
    if ending_since is not None:
        statement = statement.where(AuditDigest.end_time >= ending_since)
    for row in tx.scalars(statement):
        yield snapshot(DigestRecord, row)


def last_digest_ended_before(tx: Tx, cutoff: dt.datetime) -> DigestRecord | None:
    row = tx.scalars(
        select(AuditDigest).where(AuditDigest.end_time < cutoff).order_by(AuditDigest.digest_index.desc()).limit(1)
    ).first()
    return snapshot(DigestRecord, row)


def add_digest(tx: Tx, digest: DigestRecord) -> None:
    tx.add(AuditDigest(**asdict(digest)))
    tx.flush()


def first_event_time(tx: Tx) -> dt.datetime | None:
    return tx.scalar(select(func.min(AuditEvent.event_time)))


def event_time_range(tx: Tx, first_index: int, last_index: int) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The oldest and newest event time among chain positions ``first_index..last_index``."""
    oldest, newest = tx.execute(
        select(func.min(AuditEvent.event_time), func.max(AuditEvent.event_time)).where(
            AuditEvent.chain_index.between(first_index, last_index)
        )
    ).one()
    return oldest, newest
