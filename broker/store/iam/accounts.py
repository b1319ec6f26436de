"""Accounts: the row every IAM entity belongs to, and its alias."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from broker.store import models
from broker.store.db import Tx


def get_account(tx: Tx, account_id: str) -> models.Account | None:
    return tx.get(models.Account, account_id)


def ensure_account(tx: Tx, account_id: str, alias: str | None = None, now: dt.datetime | None = None) -> models.Account:
    account = tx.get(models.Account, account_id)
    if account is None:
        account = models.Account(id=account_id, alias=alias or None, created_at=now or dt.datetime.now(dt.UTC))
        tx.add(account)
        tx.flush()
    return account


def account_by_alias(tx: Tx, alias: str) -> models.Account | None:
    return tx.scalar(select(models.Account).where(models.Account.alias == alias))
