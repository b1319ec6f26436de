"""Records authentication and authorization need that the repositories do not cover.

An access key's last use (IAM's ``AccessKeyLastUsed``) and a group found by ARN (the policy
source of ``SimulatePrincipalPolicy``). Other lookups are in :mod:`broker.store.repositories`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from broker.store import models
from broker.store.db import Tx


def record_key_use(key: models.AccessKey, now: dt.datetime, service: str, region: str) -> None:
    """IAM's ``AccessKeyLastUsed``: when, for which service and in which region the key signed."""
    key.last_used_at = now
    key.last_used_service = service
    key.last_used_region = region


def group_by_arn(tx: Tx, arn: str) -> models.Group | None:
    return tx.scalar(select(models.Group).where(models.Group.arn == arn))
