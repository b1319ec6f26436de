"""The trail's origin row: whether `broker init` has written the genesis digest, which, and when."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update

from broker.store.db import Tx
from broker.store.models.audit import AuditTrailOrigin

ORIGIN_ID = 1


@dataclass(frozen=True)
class TrailOrigin:
    """``genesis_digest_index`` None: the trail has not begun (a database fresh from migration 0008)."""

    genesis_digest_index: int | None
    began_at: dt.datetime | None


def trail_origin(tx: Tx) -> TrailOrigin | None:
    """The origin row as recorded; None if it is missing (someone deleted it)."""
    row = tx.execute(
        select(AuditTrailOrigin.genesis_digest_index, AuditTrailOrigin.began_at).where(AuditTrailOrigin.id == ORIGIN_ID)
    ).first()
    return TrailOrigin(row.genesis_digest_index, row.began_at) if row is not None else None


def mark_begun(tx: Tx, genesis_digest_index: int, began_at: dt.datetime) -> None:
    tx.execute(
        update(AuditTrailOrigin)
        .where(AuditTrailOrigin.id == ORIGIN_ID)
        .values(genesis_digest_index=genesis_digest_index, began_at=began_at)
    )
