"""Users, groups, roles and managed policies as values: what each kind named in an account shares
(found by name, counted, added, renamed, deleted by its unique id), plus the queries of each kind.

Each kind is a :class:`NamedTable`: the IAM use cases hold one and call it; the rows stay here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, select, update

from broker.iam import entities
from broker.store import models, trust_index
from broker.store.db import Tx
from broker.store.iam import _values as values
from broker.store.iam import rows

Row = TypeVar("Row", models.User, models.Group, models.Role, models.ManagedPolicy)
Entity = TypeVar("Entity", entities.User, entities.Group, entities.Role, entities.ManagedPolicy)


def listed(model: type[Row], account_ids: tuple[str, ...], path_prefix: str) -> Select[Row]:
    """``model``s of the given accounts under ``path_prefix``, by name (then account)."""
    query = select(model).where(model.account_id.in_(account_ids)).order_by(model.name_key, model.account_id)
    if path_prefix != "/":
        query = query.where(model.path.startswith(path_prefix, autoescape=True))
    return query


@dataclass(frozen=True)
class NamedTable(Generic[Row, Entity]):
    model: type[Row]
    id_column: str  # the unique id handles name an entity by: "user_id", "group_id"...
    value: Callable[[Row], Entity]

    def _by_handle(self, handle: str) -> ColumnElement[bool]:
        column: ColumnElement[str] = getattr(self.model, self.id_column)
        return column == handle

    def find(self, tx: Tx, account_id: str, name_key: str) -> Entity | None:
        row = rows.named(tx, self.model, account_id, name_key)
        return self.value(row) if row is not None else None

    def by_arn(self, tx: Tx, arn: str) -> Entity | None:
        row = tx.scalar(select(self.model).where(self.model.arn == arn))
        return self.value(row) if row is not None else None

    def count(self, tx: Tx, account_id: str) -> int:
        return rows.count_in_account(tx, self.model, account_id)

    def listing(self, tx: Tx, account_ids: tuple[str, ...], path_prefix: str = "/") -> list[Entity]:
        """The kind's entities of the given accounts under ``path_prefix``, by name (then account)."""
        return [self.value(row) for row in tx.scalars(listed(self.model, account_ids, path_prefix))]

    def add(self, tx: Tx, fields: Mapping[str, Any]) -> Entity | None:
        """A new entity from its fields; None if a constraint refuses it (a concurrent request took its name)."""
        row = self.model(**values.row_columns(fields))
        return self.value(row) if rows.insert(tx, row) else None

    def rename(self, tx: Tx, handle: str, *, name: str, name_key: str, path: str, arn: str) -> bool:
        """A new name, path and ARN; False if a concurrent request took the name."""
        values_ = {"name": name, "name_key": name_key, "path": path, "arn": arn}
        return rows.execute(tx, update(self.model).where(self._by_handle(handle)).values(values_))

    def delete(self, tx: Tx, handle: str) -> bool:
        """False if the database refuses (a concurrent request made use of the entity)."""
        return rows.execute(tx, delete(self.model).where(self._by_handle(handle)))


class RoleTable(NamedTable[models.Role, entities.Role]):
    """Roles also index who their trust policy trusts (:mod:`broker.store.trust_index`), in the
    transaction that writes the role; the entries go with the role (ON DELETE CASCADE)."""

    def add(self, tx: Tx, fields: Mapping[str, Any]) -> entities.Role | None:
        row = models.Role(**values.row_columns(fields))
        if not rows.insert(tx, row):
            return None
        trust_index.index_new_role(tx, row.id, row.trust_policy)
        return values.role(row)


USERS = NamedTable(models.User, "user_id", values.user)
GROUPS = NamedTable(models.Group, "group_id", values.group)
ROLES = RoleTable(models.Role, "role_id", values.role)
POLICIES = NamedTable(models.ManagedPolicy, "policy_id", values.managed_policy)


# --- what still depends on a user, group or role (AWS refuses to delete it then) -----------------


def _user_pk(user_id: str) -> Any:
    return select(models.User.id).where(models.User.user_id == user_id).scalar_subquery()


def _referring(tx: Tx, column: Any, owner: Any) -> int:
    """How many rows of ``column``'s table refer to ``owner`` through it."""
    return tx.scalar(select(func.count()).select_from(column.table).where(column == owner)) or 0


@dataclass(frozen=True)
class Dependents:
    """How many of each subordinate entity a user, group or role still has."""

    access_keys: int = 0
    mfa_devices: int = 0
    service_specific_credentials: int = 0
    members: int = 0  # a group's users
    inline_policies: int = 0
    attached_policies: int = 0
    groups: int = 0  # a user's groups


def user_dependents(tx: Tx, user_id: str) -> Dependents:
    owner = _user_pk(user_id)
    return Dependents(
        access_keys=_referring(tx, models.AccessKey.user_pk, owner),
        mfa_devices=_referring(tx, models.MfaDevice.user_pk, owner),
        service_specific_credentials=_referring(tx, models.ServiceSpecificCredential.user_pk, owner),
        inline_policies=_referring(tx, models.UserInlinePolicy.user_pk, owner),
        attached_policies=_referring(tx, models.user_policy_attachments.c.user_pk, owner),
        groups=_referring(tx, models.group_members.c.user_pk, owner),
    )


def group_dependents(tx: Tx, group_id: str) -> Dependents:
    owner = select(models.Group.id).where(models.Group.group_id == group_id).scalar_subquery()
    return Dependents(
        members=_referring(tx, models.group_members.c.group_pk, owner),
        inline_policies=_referring(tx, models.GroupInlinePolicy.group_pk, owner),
        attached_policies=_referring(tx, models.group_policy_attachments.c.group_pk, owner),
    )


def role_dependents(tx: Tx, role_id: str) -> Dependents:
    owner = select(models.Role.id).where(models.Role.role_id == role_id).scalar_subquery()
    return Dependents(
        inline_policies=_referring(tx, models.RoleInlinePolicy.role_pk, owner),
        attached_policies=_referring(tx, models.role_policy_attachments.c.role_pk, owner),
    )


# --- users and groups ------------------------------------------------------------------------------


def user_with_id_in(tx: Tx, account_id: str, user_id: str) -> entities.User | None:
    row = tx.scalar(select(models.User).where(models.User.user_id == user_id, models.User.account_id == account_id))
    return values.user(row) if row is not None else None


def groups_of_user(tx: Tx, user_id: str) -> list[entities.Group]:
    query = (
        select(models.Group)
        .join(models.group_members, models.group_members.c.group_pk == models.Group.id)
        .where(models.group_members.c.user_pk == _user_pk(user_id))
        .order_by(models.Group.name_key)
    )
    return [values.group(row) for row in tx.scalars(query)]


def members_of_group(tx: Tx, group_id: str) -> list[entities.User]:
    query = (
        select(models.User)
        .join(models.group_members, models.group_members.c.user_pk == models.User.id)
        .join(models.Group, models.Group.id == models.group_members.c.group_pk)
        .where(models.Group.group_id == group_id)
        .order_by(models.User.name_key)
    )
    return [values.user(row) for row in tx.scalars(query)]


def add_member(tx: Tx, group_id: str, user_id: str) -> bool:
    """False if a constraint refuses it (the user or group was just deleted)."""
    group = select(models.Group.id).where(models.Group.group_id == group_id).scalar_subquery()
    statement = models.group_members.insert().values(group_pk=group, user_pk=_user_pk(user_id))
    return rows.execute(tx, statement)


def remove_member(tx: Tx, group_id: str, user_id: str) -> None:
    group = select(models.Group.id).where(models.Group.group_id == group_id).scalar_subquery()
    tx.execute(
        models.group_members.delete().where(
            models.group_members.c.group_pk == group, models.group_members.c.user_pk == _user_pk(user_id)
        )
    )


# --- roles ---------------------------------------------------------------------------------------


def update_role(
    tx: Tx,
    role_id: str,
    *,
    trust_policy: str | None = None,
    description: str | None = None,
    max_session_duration: int | None = None,
) -> None:
    """Set the role's trust policy, description and/or maximum session duration (None: unchanged)."""
    changes = {
        column: value
        for column, value in (
            ("trust_policy", trust_policy),
            ("description", description),
            ("max_session_duration", max_session_duration),
        )
        if value is not None
    }
    if changes:
        tx.execute(update(models.Role).where(models.Role.role_id == role_id).values(changes))
    if trust_policy is not None:
        trust_index.reindex_role(tx, role_id, trust_policy)


def assumable_role(tx: Tx, arn: str) -> entities.Role | None:
    """The role with ``arn``, unless its account is closed: a SUSPENDED account's roles are assumed
    by no one (as the sign-in's trusting roles, :mod:`broker.store.federation`, leave them out)."""
    row = tx.scalar(
        select(models.Role)
        .outerjoin(models.Account, models.Account.id == models.Role.account_id)
        .where(models.Role.arn == arn, models.Account.closed_at.is_(None))
    )
    return values.role(row) if row is not None else None


# --- managed policies and their versions ------------------------------------------------------------


def add_policy(tx: Tx, fields: Mapping[str, Any], document: str, now: dt.datetime) -> entities.ManagedPolicy | None:
    """A new managed policy with its first version (v1, the default); None if the name was just taken."""
    row = models.ManagedPolicy(
        **values.row_columns(fields),
        default_version_id="v1",
        last_version_number=1,
        created_at=now,
        updated_at=now,
        versions=[models.PolicyVersion(version_id="v1", number=1, document=document, created_at=now)],
    )
    return values.managed_policy(row) if rows.insert(tx, row) else None
