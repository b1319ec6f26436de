"""Users, groups and roles as authorization reads them: each with every policy that applies to it,
loaded in a fixed handful of queries (see :class:`broker.iam.entities.PrincipalPolicies`)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad  # the type selectinload() returns

from broker.iam import entities
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values

Principal = TypeVar("Principal", models.User, models.Group, models.Role)
# The principals that can have a permissions boundary.
Bounded = TypeVar("Bounded", models.User, models.Role)


def _with_policies(model: type[Principal]) -> tuple[_AbstractLoad, _AbstractLoad]:
    """Load options: the principal's inline policies, and its managed policies with their versions."""
    return (
        selectinload(model.inline_policies),
        selectinload(model.attached_policies).selectinload(models.ManagedPolicy.versions),
    )


def _user_with_groups() -> tuple[_AbstractLoad, ...]:
    groups = selectinload(models.User.groups).options(*_with_policies(models.Group))
    return (*_with_policies(models.User), groups)


def user_with_id(tx: Tx, user_id: str) -> entities.User | None:
    row = tx.scalar(select(models.User).where(models.User.user_id == user_id))
    return values.user(row) if row is not None else None


def user_policies(tx: Tx, user_id: str) -> entities.PrincipalPolicies | None:
    """The user with unique id ``user_id`` and every policy that applies to it, its groups' included."""
    row = tx.scalar(select(models.User).where(models.User.user_id == user_id).options(*_user_with_groups()))
    return values.principal_policies(row) if row is not None else None


def role_policies(tx: Tx, role_arn: str) -> entities.PrincipalPolicies | None:
    row = tx.scalar(select(models.Role).where(models.Role.arn == role_arn).options(*_with_policies(models.Role)))
    return values.principal_policies(row) if row is not None else None


def principal_policies_by_arn(tx: Tx, kind: str, arn: str) -> entities.PrincipalPolicies | None:
    """The user, group or role (``kind``) with ARN ``arn`` and its policies (a user's groups' too)."""
    if kind == "user":
        user = tx.scalar(select(models.User).where(models.User.arn == arn).options(*_user_with_groups()))
        return values.principal_policies(user) if user is not None else None
    if kind == "group":
        group = tx.scalar(select(models.Group).where(models.Group.arn == arn).options(*_with_policies(models.Group)))
        return values.principal_policies(group) if group is not None else None
    role = tx.scalar(select(models.Role).where(models.Role.arn == arn).options(*_with_policies(models.Role)))
    return values.principal_policies(role) if role is not None else None


# --- rows, still re-exported by broker.store.repositories (no use case calls them) ----------------
