"""Accounts: the row every IAM entity belongs to, and its alias."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from broker.iam import entities
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import rows


def _account(row: models.Account) -> entities.Account:
    return entities.Account(row.id, row.alias, row.name, row.email)


def get_account(tx: Tx, account_id: str) -> entities.Account | None:
    row = tx.get(models.Account, account_id)
    return _account(row) if row is not None else None


def ensure_account(
    tx: Tx, account_id: str, alias: str | None = None, now: dt.datetime | None = None
) -> entities.Account:
    """The account, created (with ``alias``) if it does not exist yet."""
    row = tx.get(models.Account, account_id)
    if row is None:
        row = models.Account(id=account_id, alias=alias or None, created_at=now or dt.datetime.now(dt.UTC))
        tx.add(row)
        tx.flush()
    return _account(row)


def account_by_alias(tx: Tx, alias: str) -> entities.Account | None:
    row = tx.scalar(select(models.Account).where(models.Account.alias == alias))
    return _account(row) if row is not None else None


def set_account_alias(tx: Tx, account_id: str, alias: str | None) -> bool:
    """Set (or with None remove) the account's alias; False if another account just took it."""
    return rows.execute(tx, update(models.Account).where(models.Account.id == account_id).values(alias=alias))
