"""Sealed columns (secrets encrypted at rest) as the data-key rotation sees them: which key seals
how many rows, and batches of rows to re-seal under the current key.

Every sealed value starts ``v1.<key-id>.`` (see :mod:`broker.crypto.box`); each column's associated
data is its row's primary key (an access key's id, an MFA device's serial number).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute

from broker.store import models
from broker.store.db import Tx

_KEY_ID_AT = 4  # after "v1."
_KEY_ID_LENGTH = 8


@dataclass(frozen=True)
class _SealedColumn:
    table: str
    model: Any
    row_id: InstrumentedAttribute[str]
    sealed: InstrumentedAttribute[str]


_COLUMNS = (
    _SealedColumn("access_keys", models.AccessKey, models.AccessKey.access_key_id, models.AccessKey.secret_sealed),
    _SealedColumn("mfa_devices", models.MfaDevice, models.MfaDevice.serial_number, models.MfaDevice.seed_sealed),
    _SealedColumn(
        "service_specific_credentials",
        models.ServiceSpecificCredential,
        models.ServiceSpecificCredential.credential_id,
        models.ServiceSpecificCredential.password_sealed,
    ),
)
SEALED_TABLES = tuple(column.table for column in _COLUMNS)


@dataclass(frozen=True)
class SealedValue:
    table: str
    row_id: str  # the primary key, which is also the associated data
    sealed: str


def _key_id(column: _SealedColumn) -> Any:
    return func.substr(column.sealed, _KEY_ID_AT, _KEY_ID_LENGTH)


def sealed_counts(tx: Tx) -> Counter[str]:
    """How many rows each data key (by id) seals, over every sealed column."""
    counts: Counter[str] = Counter()
    for column in _COLUMNS:
        key_id = _key_id(column)
        for found, rows in tx.execute(select(key_id, func.count()).group_by(key_id)):
            counts[str(found)] += int(rows)
    return counts


def stale_batch(tx: Tx, old_key_ids: tuple[str, ...], limit: int) -> list[SealedValue]:
    """Up to ``limit`` rows sealed by one of ``old_key_ids``, locked for this transaction. On
    PostgreSQL rows another instance holds are skipped, so instances re-seal different batches at
    once; SQLite has one writer at a time anyway."""
    batch: list[SealedValue] = []
    for column in _COLUMNS:
        if len(batch) >= limit or not old_key_ids:
            break
        query = (
            select(column.row_id, column.sealed)
            .where(_key_id(column).in_(old_key_ids))
            .order_by(column.row_id)
            .limit(limit - len(batch))
            .with_for_update(skip_locked=True)
        )
        batch += [SealedValue(column.table, row_id, sealed) for row_id, sealed in tx.execute(query)]
    return batch


def replace_sealed(tx: Tx, value: SealedValue, resealed: str) -> bool:
    """Write ``resealed`` where ``value`` still holds (a row changed meanwhile is left alone)."""
    column = next(column for column in _COLUMNS if column.table == value.table)
    statement = (
        update(column.model)
        .where(column.row_id == value.row_id, column.sealed == value.sealed)
        .values({column.sealed.key: resealed})
        .execution_options(synchronize_session=False)
    )
    return bool(tx.execute(statement).rowcount)  # type: ignore[attr-defined]
