"""The audit trail: hash-chained events, their resource index, the chain head, signed digests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.store.models._base import Base


class AuditEvent(Base):
    """One CloudTrail record, hash-chained in commit order (see ``broker.services.audit.chain``).

    ``seq`` is the row id; ``chain_index`` is the gapless position in the chain, assigned under
    the chain-head lock as the event is flushed. The other columns repeat fields of ``record``
    for LookupEvents; verification checks that they still agree with it.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_time", "event_time"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_time: Mapped[dt.datetime]
    event_source: Mapped[str] = mapped_column(String(64), index=True)
    event_name: Mapped[str] = mapped_column(String(128), index=True)
    username: Mapped[str | None] = mapped_column(String(256), index=True)
    access_key_id: Mapped[str | None] = mapped_column(String(20), index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # False for data events (CloudTrail's eventCategory Data), which LookupEvents does not list.
    management_event: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    record: Mapped[dict[str, Any]]
    # recipientAccountId: LookupEvents shows an account its own events only.
    account_id: Mapped[str | None] = mapped_column(String(12), index=True)
    chain_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    # SHA-256 (hex) of the previous event in the chain, and of this one (prev_hash + record).
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))
    resources: Mapped[list[AuditResource]] = relationship(
        primaryjoin="AuditEvent.seq == foreign(AuditResource.event_seq)",
        cascade="all, delete-orphan",
        order_by="AuditResource.id",
    )


class AuditResource(Base):
    """A resource an audit event names, indexed for LookupEvents' ResourceName and ResourceType.

    No foreign key: SQLite migrations rebuild a table to alter it, and dropping the old
    ``audit_events`` would cascade here. Purging deletes both; verification checks they agree.
    """

    __tablename__ = "audit_resources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(Integer, index=True)
    resource_type: Mapped[str | None] = mapped_column(String(64), index=True)
    # The ARN as recorded, and the name after the last "/" (what LookupEvents users type).
    resource_name: Mapped[str] = mapped_column(String(2048), index=True)
    short_name: Mapped[str] = mapped_column(String(512), index=True)


class AuditChainHead(Base):
    """The single row every audit append locks: where the chain ends, so the next event links to it."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_index: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None]


class AuditDigest(Base):
    """A signed digest over the events since the previous digest (CloudTrail's digest file).

    ``document`` is the canonical JSON that was signed, kept verbatim; the other columns repeat
    its fields for queries.
    """

    __tablename__ = "audit_digests"
    digest_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_index: Mapped[int] = mapped_column(BigInteger)
    last_index: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime] = mapped_column(index=True)
    document: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64))


class AuditTrailOrigin(Base):
    """Whether the trail has begun: its one row says which digest is the genesis and when it was written.

    Migration 0008 creates the row with both columns empty; ``broker init`` writes the genesis
    digest while they are empty and fills them in the same transaction, so a later ``broker init``
    on a trail that was wiped does not begin a new one that would look provably new.
    """

    __tablename__ = "audit_trail_origin"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    genesis_digest_index: Mapped[int | None] = mapped_column(Integer)
    began_at: Mapped[dt.datetime | None]
