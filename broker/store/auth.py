"""What authentication reads and writes: the long-term key that signed a request, and its last use.

IAM's ``AccessKeyLastUsed`` records when, for which service and in which region a key signed.
Other lookups are in :mod:`broker.store.iam`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select, update

from broker.iam import entities
from broker.iam.entities import AccessKeyStatus
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A long-term access key as SigV4 verification needs it: its sealed secret and its user."""

    access_key_id: str
    status: AccessKeyStatus
    secret_sealed: str
    user: entities.User
    # AccessKeyLastUsed as recorded: when, for which service, in which region.
    last_used: tuple[dt.datetime | None, str | None, str | None] = (None, None, None)
    # Whether Organizations' CloseAccount closed the user's account: the key then signs nothing.
    account_closed: bool = False


def _keys_with_users() -> Select[models.AccessKey, models.User, dt.datetime | None]:
    """Each key with its user and when the user's account was closed (outer join: an account
    without a row of its own is open), in one statement."""
    return (
        select(models.AccessKey, models.User, models.Account.closed_at)
        .join(models.User, models.User.id == models.AccessKey.user_pk)
        .outerjoin(models.Account, models.Account.id == models.User.account_id)
    )


def signing_key(tx: Tx, access_key_id: str) -> SigningKey | None:
    row = tx.execute(_keys_with_users().where(models.AccessKey.access_key_id == access_key_id)).first()
    return _signing_key(*row) if row is not None else None


def first_active_key(tx: Tx, user_id: str) -> SigningKey | None:
    """The oldest active access key of the user with unique id ``user_id``, if any (bootstrap-admin)."""
    found = tx.execute(
        _keys_with_users()
        .where(models.User.user_id == user_id, models.AccessKey.status == "Active")
        .order_by(models.AccessKey.created_at)
    ).first()
    return _signing_key(*found) if found is not None else None


def _signing_key(key: models.AccessKey, user: models.User, closed_at: dt.datetime | None) -> SigningKey:
    status: AccessKeyStatus = "Active" if key.status == "Active" else "Inactive"
    last_used = (key.last_used_at, key.last_used_service, key.last_used_region)
    return SigningKey(key.access_key_id, status, key.secret_sealed, values.user(user), last_used, closed_at is not None)


def account_closed(tx: Tx, account_id: str) -> bool:
    """Whether Organizations' CloseAccount closed the account (AWS shows it SUSPENDED), for
    temporary credentials (a long-term key reads it with the key); an account without a row of
    its own is open."""
    closed = tx.scalar(select(models.Account.closed_at).where(models.Account.id == account_id))
    return closed is not None


def record_key_use(tx: Tx, access_key_id: str, now: dt.datetime, service: str, region: str) -> None:
    """IAM's ``AccessKeyLastUsed``: when, for which service and in which region the key signed."""
    tx.execute(
        update(models.AccessKey)
        .where(models.AccessKey.access_key_id == access_key_id)
        .values(last_used_at=now, last_used_service=service, last_used_region=region)
    )
