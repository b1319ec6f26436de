"""What `broker init` and `broker bootstrap-admin` read that the repositories do not cover."""

from __future__ import annotations

from sqlalchemy import select

from broker.store import models
from broker.store.db import Tx


def first_active_key(tx: Tx, user_pk: int) -> models.AccessKey | None:
    """The user's oldest active access key, if any."""
    return tx.scalars(
        select(models.AccessKey)
        .where(models.AccessKey.user_pk == user_pk, models.AccessKey.status == "Active")
        .order_by(models.AccessKey.created_at)
    ).first()
