"""Writing IAM rows in the caller's transaction, and what every kind of entity named in an account shares.

A write that a unique or foreign-key constraint refuses (another request took the name, attached
the policy...) rolls back to a savepoint and reports False; the use case answers with AWS's error.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Executable, func, select
from sqlalchemy.exc import IntegrityError

from broker.store import models
from broker.store.db import Tx

# The entities whose name is unique in their account, ignoring case (``name_key``).
Named = TypeVar(
    "Named",
    models.User,
    models.Group,
    models.Role,
    models.ManagedPolicy,
    models.SamlProvider,
    models.MfaDevice,
)


def save(tx: Tx) -> bool:
    """Write pending changes now, in a savepoint; False if a constraint refuses them."""
    try:
        with tx.begin_nested():
            tx.flush()
    except IntegrityError:
        return False
    return True


def insert(tx: Tx, row: object) -> bool:
    """Add a new row; False if a constraint refuses it (a concurrent request took its name)."""
    tx.add(row)
    return save(tx)


def execute(tx: Tx, statement: Executable) -> bool:
    """Run an UPDATE or DELETE now, in a savepoint; False if a constraint refuses it."""
    try:
        with tx.begin_nested():
            tx.execute(statement)
    except IntegrityError:
        return False
    return True


def named(tx: Tx, model: type[Named], account_id: str, name_key: str) -> Named | None:
    return tx.scalar(select(model).where(model.account_id == account_id, model.name_key == name_key))


def count_in_account(tx: Tx, model: type[Named], account_id: str) -> int:
    return tx.scalar(select(func.count()).select_from(model).where(model.account_id == account_id)) or 0
