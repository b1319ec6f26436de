"""Managed policies: lookups, and who uses each (attachments to users, groups and roles; boundaries)."""

from __future__ import annotations

from sqlalchemy import Table, func, select

from broker.store import models
from broker.store.db import Tx
from broker.store.iam.principals import Bounded, Principal
from broker.store.iam.rows import named


def policy_by_arn(tx: Tx, arn: str) -> models.ManagedPolicy | None:
    return tx.scalar(select(models.ManagedPolicy).where(models.ManagedPolicy.arn == arn))


def policies_by_arns(tx: Tx, arns: list[str] | tuple[str, ...]) -> list[models.ManagedPolicy]:
    if not arns:
        return []
    return list(tx.scalars(select(models.ManagedPolicy).where(models.ManagedPolicy.arn.in_(arns))))


def policy_by_name(tx: Tx, account_id: str, name_key: str) -> models.ManagedPolicy | None:
    return named(tx, models.ManagedPolicy, account_id, name_key)


def list_policies(tx: Tx, account_ids: tuple[str, ...], path_prefix: str = "/") -> list[models.ManagedPolicy]:
    """Managed policies of the given owners ("aws" for the AWS-managed ones), by name."""
    query = (
        select(models.ManagedPolicy)
        .where(models.ManagedPolicy.account_id.in_(account_ids))
        .order_by(models.ManagedPolicy.name_key, models.ManagedPolicy.account_id)
    )
    if path_prefix != "/":
        query = query.where(models.ManagedPolicy.path.startswith(path_prefix, autoescape=True))
    return list(tx.scalars(query))


_Attachable = type[models.User] | type[models.Group] | type[models.Role]
_ATTACHMENTS: tuple[tuple[Table, _Attachable, str], ...] = (
    (models.user_policy_attachments, models.User, "user_pk"),
    (models.group_policy_attachments, models.Group, "group_pk"),
    (models.role_policy_attachments, models.Role, "role_pk"),
)


def attachment_counts(tx: Tx, account_id: str) -> dict[int, int]:
    """policy primary key -> number of users, groups and roles of the account it is attached to."""
    counts: dict[int, int] = {}
    for table, entity, column in _ATTACHMENTS:
        rows = tx.execute(
            select(table.c.policy_pk, func.count())
            .join(entity, entity.id == table.c[column])
            .where(entity.account_id == account_id)
            .group_by(table.c.policy_pk)
        )
        for policy_pk, count in rows:
            counts[policy_pk] = counts.get(policy_pk, 0) + count
    return counts


def boundary_counts(tx: Tx, account_id: str) -> dict[str, int]:
    """policy ARN -> number of users and roles of the account that use it as permissions boundary."""
    counts: dict[str, int] = {}
    for entity in (models.User, models.Role):
        rows = tx.execute(
            select(entity.permissions_boundary_arn, func.count())
            .where(entity.account_id == account_id, entity.permissions_boundary_arn.is_not(None))
            .group_by(entity.permissions_boundary_arn)
        )
        for arn, count in rows:
            if arn is not None:
                counts[arn] = counts.get(arn, 0) + count
    return counts


def _attached(
    tx: Tx, model: type[Principal], table: Table, column: str, policy: models.ManagedPolicy, account_id: str
) -> list[Principal]:
    return list(
        tx.scalars(
            select(model)
            .join(table, table.c[column] == model.id)
            .where(table.c.policy_pk == policy.id, model.account_id == account_id)
            .order_by(model.name_key)
        )
    )


def entities_attached_to(
    tx: Tx, policy: models.ManagedPolicy, account_id: str
) -> tuple[list[models.User], list[models.Group], list[models.Role]]:
    """Users, groups and roles of the account that have ``policy`` attached, each by name."""
    return (
        _attached(tx, models.User, models.user_policy_attachments, "user_pk", policy, account_id),
        _attached(tx, models.Group, models.group_policy_attachments, "group_pk", policy, account_id),
        _attached(tx, models.Role, models.role_policy_attachments, "role_pk", policy, account_id),
    )


def _bounded(tx: Tx, model: type[Bounded], policy_arn: str, account_id: str) -> list[Bounded]:
    query = select(model).where(model.account_id == account_id, model.permissions_boundary_arn == policy_arn)
    return list(tx.scalars(query.order_by(model.name_key)))


def entities_bounded_by(tx: Tx, policy_arn: str, account_id: str) -> tuple[list[models.User], list[models.Role]]:
    """Users and roles of the account that use ``policy_arn`` as their permissions boundary, each by name."""
    return _bounded(tx, models.User, policy_arn, account_id), _bounded(tx, models.Role, policy_arn, account_id)


def is_attached_anywhere(tx: Tx, policy: models.ManagedPolicy) -> bool:
    for table, _entity, _column in _ATTACHMENTS:
        if tx.scalar(select(func.count()).select_from(table).where(table.c.policy_pk == policy.id)):
            return True
    for entity in (models.User, models.Role):
        if tx.scalar(select(func.count()).where(entity.permissions_boundary_arn == policy.arn)):
            return True
    return False
