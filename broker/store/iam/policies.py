"""Managed policies: lookups, and who uses each (attachments to users, groups and roles; boundaries)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table, and_, delete, func, select, update

from broker.iam import entities
from broker.iam.aws_managed import ShippedPolicy
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values
from broker.store.iam import rows
from broker.store.iam.named import listed
from broker.store.iam.principals import Bounded, Principal
from broker.store.iam.rows import named


def policy_documents(tx: Tx, arns: list[str] | tuple[str, ...]) -> list[entities.PolicyDocument]:
    """The managed policies among ``arns`` that exist, each with its default version's document."""
    if not arns:
        return []
    version = and_(
        models.PolicyVersion.policy_pk == models.ManagedPolicy.id,
        models.PolicyVersion.version_id == models.ManagedPolicy.default_version_id,
    )
    query = (
        select(models.ManagedPolicy.arn, models.PolicyVersion.document)
        .outerjoin(models.PolicyVersion, version)
        .where(models.ManagedPolicy.arn.in_(arns))
    )
    return [entities.PolicyDocument(arn, document) for arn, document in tx.execute(query)]


def policy_by_name(tx: Tx, account_id: str, name_key: str) -> entities.ManagedPolicy | None:
    row = named(tx, models.ManagedPolicy, account_id, name_key)
    return values.managed_policy(row) if row is not None else None


def list_policies(tx: Tx, account_ids: tuple[str, ...], path_prefix: str = "/") -> list[entities.ManagedPolicy]:
    """Managed policies of the given owners ("aws" for the AWS-managed ones), by name."""
    return [values.managed_policy(row) for row in tx.scalars(listed(models.ManagedPolicy, account_ids, path_prefix))]


_Attachable = type[models.User] | type[models.Group] | type[models.Role]
_ATTACHMENTS: tuple[tuple[Table, _Attachable, str], ...] = (
    (models.user_policy_attachments, models.User, "user_pk"),
    (models.group_policy_attachments, models.Group, "group_pk"),
    (models.role_policy_attachments, models.Role, "role_pk"),
)


def attachment_counts(tx: Tx, account_id: str) -> dict[str, int]:
    """policy ARN -> number of users, groups and roles of the account it is attached to."""
    counts: dict[str, int] = {}
    for table, entity, column in _ATTACHMENTS:
        counted = tx.execute(
            select(models.ManagedPolicy.arn, func.count())
            .select_from(table)
            .join(entity, entity.id == table.c[column])
            .join(models.ManagedPolicy, models.ManagedPolicy.id == table.c.policy_pk)
            .where(entity.account_id == account_id)
            .group_by(models.ManagedPolicy.arn)
        )
        for arn, count in counted:
            counts[arn] = counts.get(arn, 0) + count
    return counts


def boundary_counts(tx: Tx, account_id: str) -> dict[str, int]:
    """policy ARN -> number of users and roles of the account that use it as permissions boundary."""
    counts: dict[str, int] = {}
    for entity in (models.User, models.Role):
        counted = tx.execute(
            select(entity.permissions_boundary_arn, func.count())
            .where(entity.account_id == account_id, entity.permissions_boundary_arn.is_not(None))
            .group_by(entity.permissions_boundary_arn)
        )
        for arn, count in counted:
            if arn is not None:
                counts[arn] = counts.get(arn, 0) + count
    return counts


def _policy_pk(policy_id: str) -> Any:
    return select(models.ManagedPolicy.id).where(models.ManagedPolicy.policy_id == policy_id).scalar_subquery()


def _attached(
    tx: Tx, model: type[Principal], table: Table, column: str, policy_id: str, account_id: str
) -> list[Principal]:
    return list(
        tx.scalars(
            select(model)
            .join(table, table.c[column] == model.id)
            .where(table.c.policy_pk == _policy_pk(policy_id), model.account_id == account_id)
            .order_by(model.name_key)
        )
    )


def entities_attached_to(
    tx: Tx, policy_id: str, account_id: str
) -> tuple[list[entities.User], list[entities.Group], list[entities.Role]]:
    """Users, groups and roles of the account that have the policy attached, each by name."""
    users = _attached(tx, models.User, models.user_policy_attachments, "user_pk", policy_id, account_id)
    groups = _attached(tx, models.Group, models.group_policy_attachments, "group_pk", policy_id, account_id)
    roles = _attached(tx, models.Role, models.role_policy_attachments, "role_pk", policy_id, account_id)
    return [values.user(u) for u in users], [values.group(g) for g in groups], [values.role(r) for r in roles]


def _bounded(tx: Tx, model: type[Bounded], policy_arn: str, account_id: str) -> list[Bounded]:
    query = select(model).where(model.account_id == account_id, model.permissions_boundary_arn == policy_arn)
    return list(tx.scalars(query.order_by(model.name_key)))


def entities_bounded_by(tx: Tx, policy_arn: str, account_id: str) -> tuple[list[entities.User], list[entities.Role]]:
    """Users and roles of the account that use ``policy_arn`` as their permissions boundary, each by name."""
    users = _bounded(tx, models.User, policy_arn, account_id)
    roles = _bounded(tx, models.Role, policy_arn, account_id)
    return [values.user(u) for u in users], [values.role(r) for r in roles]


def is_attached_anywhere(tx: Tx, policy_id: str, policy_arn: str) -> bool:
    for table, _entity, _column in _ATTACHMENTS:
        if tx.scalar(select(func.count()).select_from(table).where(table.c.policy_pk == _policy_pk(policy_id))):
            return True
    for entity in (models.User, models.Role):
        if tx.scalar(select(func.count()).where(entity.permissions_boundary_arn == policy_arn)):
            return True
    return False


# --- versions ------------------------------------------------------------------------------------


def policy_versions(tx: Tx, policy_id: str) -> list[entities.PolicyVersion]:
    """The policy's versions, newest first."""
    query = (
        select(models.PolicyVersion, models.ManagedPolicy.default_version_id)
        .join(models.ManagedPolicy, models.ManagedPolicy.id == models.PolicyVersion.policy_pk)
        .where(models.ManagedPolicy.policy_id == policy_id)
        .order_by(models.PolicyVersion.number.desc())
    )
    return [values.policy_version(version, default) for version, default in tx.execute(query)]


def add_policy_version(
    tx: Tx, policy_id: str, document: str, set_as_default: bool, now: dt.datetime
) -> entities.PolicyVersion | None:
    """The policy's next version (ids are never reused); None if a concurrent request just made it."""
    policy = tx.scalar(select(models.ManagedPolicy).where(models.ManagedPolicy.policy_id == policy_id))
    if policy is None:
        return None
    number = policy.last_version_number + 1
    version = models.PolicyVersion(
        policy_pk=policy.id, version_id=f"v{number}", number=number, document=document, created_at=now
    )
    policy.last_version_number = number
    policy.updated_at = now
    if set_as_default:
        policy.default_version_id = version.version_id
    tx.add(version)
    if not rows.save(tx):
        return None
    return values.policy_version(version, policy.default_version_id)


def delete_policy_version(tx: Tx, policy_id: str, version_id: str) -> None:
    tx.execute(
        delete(models.PolicyVersion).where(
            models.PolicyVersion.policy_pk == _policy_pk(policy_id), models.PolicyVersion.version_id == version_id
        )
    )


def set_default_version(tx: Tx, policy_id: str, version_id: str) -> None:
    tx.execute(
        update(models.ManagedPolicy)
        .where(models.ManagedPolicy.policy_id == policy_id)
        .values(default_version_id=version_id)
    )


# --- the AWS-managed policies the broker ships ------------------------------------------------------


def sync_aws_managed_policies(tx: Tx, shipped: tuple[ShippedPolicy, ...]) -> list[str]:
    """Make the database's AWS-managed policies what the broker ships: add the missing ones, bring
    the others to the shipped default version (AWS's version id, document and dates). The ARNs
    changed, in order; none on a database already in step."""
    changed: list[str] = []
    for policy in shipped:
        row = tx.scalar(select(models.ManagedPolicy).where(models.ManagedPolicy.arn == policy.arn))
        if row is None:
            row = models.ManagedPolicy(account_id="aws", arn=policy.arn, tags={})
            tx.add(row)
        elif _in_step(row, policy):
            continue
        row.name, row.name_key, row.path = policy.name, policy.name.casefold(), policy.path
        row.policy_id, row.description = policy.policy_id, policy.description
        row.default_version_id, row.last_version_number = policy.version_id, policy.version_number
        row.created_at, row.updated_at = policy.create_date, policy.update_date
        # AWS shows one version of its policies to an account: the default one.
        for version in list(row.versions):
            row.versions.remove(version)
        tx.flush()
        row.versions.append(
            models.PolicyVersion(
                version_id=policy.version_id,
                number=policy.version_number,
                document=policy.document,
                created_at=policy.update_date,
            )
        )
        tx.flush()
        changed.append(policy.arn)
    return changed


def _in_step(row: models.ManagedPolicy, policy: ShippedPolicy) -> bool:
    versions = [(v.version_id, v.document) for v in row.versions]
    return (
        versions == [(policy.version_id, policy.document)]
        and row.default_version_id == policy.version_id
        and (row.policy_id, row.description, row.path) == (policy.policy_id, policy.description, policy.path)
    )
