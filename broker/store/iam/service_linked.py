"""DeleteServiceLinkedRole's tasks, which GetServiceLinkedRoleDeletionStatus reports on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from broker.store import models
from broker.store.db import Tx


@dataclass(frozen=True, slots=True)
class DeletionTask:
    deletion_task_id: str
    role_arn: str
    status: str
    reason: str | None


def record_deletion(tx: Tx, task: DeletionTask, account_id: str, now: dt.datetime) -> None:
    tx.add(
        models.ServiceLinkedRoleDeletion(
            deletion_task_id=task.deletion_task_id,
            account_id=account_id,
            role_arn=task.role_arn,
            status=task.status,
            reason=task.reason,
            created_at=now,
        )
    )
    tx.flush()


def deletion(tx: Tx, account_id: str, deletion_task_id: str) -> DeletionTask | None:
    model = models.ServiceLinkedRoleDeletion
    row = tx.scalar(select(model).where(model.deletion_task_id == deletion_task_id, model.account_id == account_id))
    return DeletionTask(row.deletion_task_id, row.role_arn, row.status, row.reason) if row is not None else None
