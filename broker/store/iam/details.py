"""GetAccountAuthorizationDetails' snapshot: every user, group, role and managed policy of an
account with what it owns, each kind read in a fixed handful of queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad  # the type selectinload() returns

from broker.iam import entities
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values
from broker.store.iam.principals import Principal as Owner


@dataclass(frozen=True)
class Owned:
    """A user's, group's or role's inline policies, attached managed policies and (a user's) groups."""

    inline: tuple[entities.InlinePolicy, ...]
    attached: tuple[entities.ManagedPolicy, ...]
    groups: tuple[entities.Group, ...] = ()


def _owned(row: models.User | models.Group | models.Role) -> Owned:
    inline = tuple(entities.InlinePolicy(p.name, p.document) for p in row.inline_policies)
    attached = tuple(values.managed_policy(p) for p in row.attached_policies)
    groups = tuple(values.group(g) for g in row.groups) if isinstance(row, models.User) else ()
    return Owned(inline, attached, groups)


def _of_account(tx: Tx, model: type[Owner], account_id: str, *also: _AbstractLoad) -> list[Owner]:
    """The account's ``model``s by name, with their inline and attached policies (and ``also``)."""
    query = (
        select(model)
        .where(model.account_id == account_id)
        .order_by(model.name_key)
        .options(selectinload(model.inline_policies), selectinload(model.attached_policies), *also)
    )
    return list(tx.scalars(query))


def users_in(tx: Tx, account_id: str) -> list[tuple[entities.User, Owned]]:
    rows = _of_account(tx, models.User, account_id, selectinload(models.User.groups))
    return [(values.user(row), _owned(row)) for row in rows]


def groups_in(tx: Tx, account_id: str) -> list[tuple[entities.Group, Owned]]:
    return [(values.group(row), _owned(row)) for row in _of_account(tx, models.Group, account_id)]


def roles_in(tx: Tx, account_id: str) -> list[tuple[entities.Role, Owned]]:
    return [(values.role(row), _owned(row)) for row in _of_account(tx, models.Role, account_id)]


def policies_of(
    tx: Tx, account_ids: tuple[str, ...]
) -> list[tuple[entities.ManagedPolicy, list[entities.PolicyVersion]]]:
    """The managed policies of the given owners by name, each with its versions (newest first)."""
    query = (
        select(models.ManagedPolicy)
        .where(models.ManagedPolicy.account_id.in_(account_ids))
        .order_by(models.ManagedPolicy.name_key, models.ManagedPolicy.account_id)
        .options(selectinload(models.ManagedPolicy.versions))
    )
    return [
        (values.managed_policy(row), [values.policy_version(v, row.default_version_id) for v in row.versions])
        for row in tx.scalars(query)
    ]
