"""Users' service-specific credentials (CodeCommit Git, Keyspaces); passwords stay sealed here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from broker.store import models
from broker.store.db import Tx
from broker.store.iam import rows

_MODEL = models.ServiceSpecificCredential


@dataclass(frozen=True, slots=True)
class StoredCredential:
    credential_id: str
    user_name: str
    service_name: str
    service_user_name: str
    status: str
    create_date: dt.datetime


def _owner(user_id: str) -> object:
    return select(models.User.id).where(models.User.user_id == user_id).scalar_subquery()


def credentials_of(tx: Tx, user_id: str, service_name: str | None = None) -> list[StoredCredential]:
    """The user's credentials (for one service, if named), oldest first."""
    query = (
        select(_MODEL, models.User.name)
        .join(models.User, models.User.id == _MODEL.user_pk)
        .where(models.User.user_id == user_id)
    )
    if service_name is not None:
        query = query.where(_MODEL.service_name == service_name)
    found = tx.execute(query.order_by(_MODEL.created_at, _MODEL.credential_id))
    return [
        StoredCredential(
            row.credential_id, user_name, row.service_name, row.service_user_name, row.status, row.created_at
        )
        for row, user_name in found
    ]


def count(tx: Tx, user_id: str, service_name: str) -> int:
    query = select(func.count()).select_from(_MODEL).where(_MODEL.user_pk == _owner(user_id))
    return tx.scalar(query.where(_MODEL.service_name == service_name)) or 0


def add(tx: Tx, user_id: str, credential: StoredCredential, password_sealed: str) -> bool:
    """False if a constraint refuses it (the user was just deleted)."""
    return rows.execute(
        tx,
        insert(_MODEL).values(
            credential_id=credential.credential_id,
            user_pk=_owner(user_id),
            service_name=credential.service_name,
            service_user_name=credential.service_user_name,
            password_sealed=password_sealed,
            status=credential.status,
            created_at=credential.create_date,
        ),
    )


def set_status(tx: Tx, credential_id: str, status: str) -> None:
    tx.execute(update(_MODEL).where(_MODEL.credential_id == credential_id).values(status=status))


def set_password(tx: Tx, credential_id: str, password_sealed: str) -> None:
    tx.execute(update(_MODEL).where(_MODEL.credential_id == credential_id).values(password_sealed=password_sealed))


def remove(tx: Tx, credential_id: str) -> None:
    tx.execute(delete(_MODEL).where(_MODEL.credential_id == credential_id))
