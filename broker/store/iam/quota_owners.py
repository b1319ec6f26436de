"""The row a quota is counted under (an account, user, group, role or instance profile), locked so
that two requests count and add one after the other.

PostgreSQL's READ COMMITTED lets two transactions count the same rows and both add one more; the
lock makes the second wait for the first to commit, and its count (a new statement, so a new
snapshot) then sees the row the first added. It is ``FOR NO KEY UPDATE``: it excludes only another
such lock (and the owner's deletion, rename or update), not the ``FOR KEY SHARE`` that an insert of a
row referring to the owner takes, so adding an access key, a user... never waits for it or deadlocks
on it. On SQLite the clause is dropped: ``BEGIN IMMEDIATE`` already serializes writers.

Lock order: the owner first, before any other row lock of the request; an account before the users,
groups, roles and profiles in it.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select

from broker.store import models
from broker.store.db import Tx

QuotaOwnerKind = Literal["Account", "User", "Group", "Role", "InstanceProfile"]

# Per kind: the model and the column that names a row by the handle the use cases hold.
_OWNERS: dict[QuotaOwnerKind, tuple[Any, Any]] = {
    "Account": (models.Account, models.Account.id),
    "User": (models.User, models.User.user_id),
    "Group": (models.Group, models.Group.group_id),
    "Role": (models.Role, models.Role.role_id),
    "InstanceProfile": (models.InstanceProfile, models.InstanceProfile.instance_profile_id),
}


def lock_quota_owner(tx: Tx, kind: QuotaOwnerKind, handle: str) -> bool:
    """Hold the owner's row until the transaction ends; False if it is gone (deleted meanwhile)."""
    model, column = _OWNERS[kind]
    query = select(model.id).where(column == handle).with_for_update(key_share=True)
    return tx.scalar(query) is not None
