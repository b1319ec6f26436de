"""What a user, group or role owns: its inline policies and its attachments of managed policies.

``kind`` is "User", "Group" or "Role"; ``handle`` the entity's unique id (user id, group id, role id).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Table, delete, insert, select, update

from broker.iam import entities
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values
from broker.store.iam import rows

OwnerKind = Literal["User", "Group", "Role"]

# Per kind: the owner's model and unique id column, its inline policies' model and owner key,
# and its attachment table with that table's owner key.
_OWNERS: dict[str, tuple[Any, Any, Any, str, Table, str]] = {
    "User": (
        models.User,
        models.User.user_id,
        models.UserInlinePolicy,
        "user_pk",
        models.user_policy_attachments,
        "user_pk",
    ),
    "Group": (
        models.Group,
        models.Group.group_id,
        models.GroupInlinePolicy,
        "group_pk",
        models.group_policy_attachments,
        "group_pk",
    ),
    "Role": (
        models.Role,
        models.Role.role_id,
        models.RoleInlinePolicy,
        "role_pk",
        models.role_policy_attachments,
        "role_pk",
    ),
}


def _owner_pk(kind: OwnerKind, handle: str) -> Any:
    model, id_column = _OWNERS[kind][:2]
    return select(model.id).where(id_column == handle).scalar_subquery()


def _policy_pk(policy_id: str) -> Any:
    return select(models.ManagedPolicy.id).where(models.ManagedPolicy.policy_id == policy_id).scalar_subquery()


# --- inline policies -------------------------------------------------------------------------------


def inline_policies(tx: Tx, kind: OwnerKind, handle: str) -> list[entities.InlinePolicy]:
    """The owner's inline policies, by name."""
    _model, _id, inline, key, _table, _column = _OWNERS[kind]
    query = select(inline).where(getattr(inline, key) == _owner_pk(kind, handle)).order_by(inline.name)
    return [entities.InlinePolicy(row.name, row.document) for row in tx.scalars(query)]


def put_inline_policy(tx: Tx, kind: OwnerKind, handle: str, name: str, document: str, *, replace: bool) -> bool:
    """Replace the owner's policy ``name`` (``replace``) or add it; False if a constraint refuses the addition."""
    _model, _id, inline, key, _table, _column = _OWNERS[kind]
    owner = getattr(inline, key) == _owner_pk(kind, handle)
    if replace:
        tx.execute(update(inline).where(owner, inline.name == name).values(document=document))
        return True
    return rows.execute(tx, insert(inline).values({key: _owner_pk(kind, handle), "name": name, "document": document}))


def delete_inline_policy(tx: Tx, kind: OwnerKind, handle: str, name: str) -> None:
    _model, _id, inline, key, _table, _column = _OWNERS[kind]
    tx.execute(delete(inline).where(getattr(inline, key) == _owner_pk(kind, handle), inline.name == name))


# --- attached managed policies ---------------------------------------------------------------------


def attached_policies(tx: Tx, kind: OwnerKind, handle: str) -> list[entities.ManagedPolicy]:
    """The managed policies attached to the owner, by name."""
    _model, _id, _inline, _key, table, column = _OWNERS[kind]
    query = (
        select(models.ManagedPolicy)
        .join(table, table.c.policy_pk == models.ManagedPolicy.id)
        .where(table.c[column] == _owner_pk(kind, handle))
        .order_by(models.ManagedPolicy.name_key)
    )
    return [values.managed_policy(row) for row in tx.scalars(query)]


def attach_policy(tx: Tx, kind: OwnerKind, handle: str, policy_id: str) -> bool:
    """False if a constraint refuses it (a concurrent request deleted the policy or the owner)."""
    _model, _id, _inline, _key, table, column = _OWNERS[kind]
    return rows.execute(
        tx, table.insert().values({column: _owner_pk(kind, handle), "policy_pk": _policy_pk(policy_id)})
    )


def detach_policy(tx: Tx, kind: OwnerKind, handle: str, policy_id: str) -> None:
    _model, _id, _inline, _key, table, column = _OWNERS[kind]
    tx.execute(
        table.delete().where(table.c[column] == _owner_pk(kind, handle), table.c.policy_pk == _policy_pk(policy_id))
    )
