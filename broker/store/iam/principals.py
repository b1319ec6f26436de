"""Users, groups and roles: found by name, ARN or unique id, listed by path, loaded for authorization."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad  # the type selectinload() returns

from broker.store import models
from broker.store.db import Tx
from broker.store.iam.rows import named

Principal = TypeVar("Principal", models.User, models.Group, models.Role)
# The principals that can have a permissions boundary.
Bounded = TypeVar("Bounded", models.User, models.Role)


def _listing(model: type[Principal], account_id: str | None, path_prefix: str) -> Select[Principal]:
    """``model``s (of one account, or all) under ``path_prefix``, by account and name."""
    query = select(model).order_by(model.account_id, model.name_key)
    if account_id is not None:
        query = query.where(model.account_id == account_id)
    if path_prefix != "/":
        query = query.where(model.path.startswith(path_prefix, autoescape=True))
    return query


# --- users ----------------------------------------------------------------------------------------


def user_by_name(tx: Tx, account_id: str, name_key: str) -> models.User | None:
    return named(tx, models.User, account_id, name_key)


def user_by_arn(tx: Tx, arn: str) -> models.User | None:
    return tx.scalar(select(models.User).where(models.User.arn == arn))


def user_by_user_id(tx: Tx, user_id: str) -> models.User | None:
    return tx.scalar(select(models.User).where(models.User.user_id == user_id))


def list_users(tx: Tx, account_id: str, path_prefix: str = "/") -> list[models.User]:
    return list(tx.scalars(_listing(models.User, account_id, path_prefix)))


def _with_policies(model: type[Principal]) -> tuple[_AbstractLoad, _AbstractLoad]:
    """Load options: the principal's inline policies, and its managed policies with their versions."""
    return (
        selectinload(model.inline_policies),
        selectinload(model.attached_policies).selectinload(models.ManagedPolicy.versions),
    )


def user_with_policies(tx: Tx, user_id: str) -> models.User | None:
    """A user with everything its authorization reads (its groups' policies too), in a fixed handful of queries."""
    groups = selectinload(models.User.groups).options(*_with_policies(models.Group))
    query = select(models.User).where(models.User.user_id == user_id)
    return tx.scalar(query.options(*_with_policies(models.User), groups))


# --- groups ---------------------------------------------------------------------------------------


def group_by_name(tx: Tx, account_id: str, name_key: str) -> models.Group | None:
    return named(tx, models.Group, account_id, name_key)


def list_groups(tx: Tx, account_id: str, path_prefix: str = "/") -> list[models.Group]:
    return list(tx.scalars(_listing(models.Group, account_id, path_prefix)))


# --- roles ----------------------------------------------------------------------------------------


def role_by_name(tx: Tx, account_id: str, name_key: str) -> models.Role | None:
    return named(tx, models.Role, account_id, name_key)


def role_by_arn(tx: Tx, arn: str) -> models.Role | None:
    return tx.scalar(select(models.Role).where(models.Role.arn == arn))


def list_roles(tx: Tx, account_id: str | None = None, path_prefix: str = "/") -> list[models.Role]:
    return list(tx.scalars(_listing(models.Role, account_id, path_prefix)))


def roles_trusting(tx: Tx, provider_arn: str) -> list[models.Role]:
    """Candidate roles for a federated sign-in: those whose trust policy names the provider.

    A cheap pre-filter on the document text; the policy engine decides. Candidates name the
    provider, name any federated principal, or use a wildcard (``"Principal": "*"``,
    ``NotPrincipal``), which is where a federated sign-in could also be admitted.
    """
    query = (
        select(models.Role)
        .where(
            models.Role.trust_policy.contains(provider_arn, autoescape=True)
            | models.Role.trust_policy.contains("Federated", autoescape=True)
            | models.Role.trust_policy.contains("*", autoescape=True)
            | models.Role.trust_policy.contains("NotPrincipal", autoescape=True)
        )
        .order_by(models.Role.account_id, models.Role.name_key)
    )
    return list(tx.scalars(query))


def role_with_policies(tx: Tx, role_arn: str) -> models.Role | None:
    return tx.scalar(select(models.Role).where(models.Role.arn == role_arn).options(*_with_policies(models.Role)))
