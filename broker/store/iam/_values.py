"""Rows as the IAM entities the rest of the broker sees (:mod:`broker.iam.entities`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

from broker.iam import entities
from broker.iam.names import name_key
from broker.store import models
from broker.store._snapshot import field_columns, snapshot

E = TypeVar("E")


# Entity fields named otherwise in the tables; every other field has its column's name.
_RENAMED = {
    "create_date": "created_at",
    "update_date": "updated_at",
    "last_used_date": "last_used_at",
    "enable_date": "enabled_at",
}


def _entity(kind: type[E], row: object, **given: Any) -> E:
    """The ``kind`` entity of ``row``: each field from its column, but those ``given``."""
    names = {name for name, _column in field_columns(kind, _RENAMED)}
    if "tags" in names and "tags" not in given:
        given["tags"] = dict(getattr(row, "tags") or {})  # noqa: B009  (not every row has tags)
    if "description" in names and "description" not in given:
        given["description"] = getattr(row, "description") or None  # noqa: B009  (stored as "" when absent)
    return snapshot(kind, row, renamed=_RENAMED, **given)


def row_columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of a new row from an entity's fields (by their names), with the name's ``name_key``."""
    found = {_RENAMED.get(name, name): value for name, value in fields.items()}
    if "tags" in found:
        found["tags"] = dict(found["tags"])
    if "name" in found:
        found["name_key"] = name_key(found["name"])
    return found


def columns(entity: object, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """The columns of a new row holding ``entity`` (but the fields left out), the inverse of :func:`_entity`."""
    return row_columns({f.name: getattr(entity, f.name) for f in dataclasses.fields(entity) if f.name not in leave_out})  # type: ignore[arg-type]


def user(row: models.User) -> entities.User:
    return _entity(entities.User, row)


def group(row: models.Group) -> entities.Group:
    return _entity(entities.Group, row)


def role(row: models.Role) -> entities.Role:
    return _entity(entities.Role, row)


def managed_policy(row: models.ManagedPolicy) -> entities.ManagedPolicy:
    return _entity(entities.ManagedPolicy, row)


def policy_version(row: models.PolicyVersion, default_version_id: str) -> entities.PolicyVersion:
    return _entity(entities.PolicyVersion, row, is_default=row.version_id == default_version_id)


def access_key(row: models.AccessKey, user_name: str) -> entities.AccessKey:
    status: entities.AccessKeyStatus = "Active" if row.status == "Active" else "Inactive"
    return _entity(entities.AccessKey, row, user_name=user_name, status=status)


def saml_provider(row: models.SamlProvider) -> entities.SamlProvider:
    return _entity(entities.SamlProvider, row)


def mfa_device(row: models.MfaDevice, owner: models.User | None) -> entities.MfaDevice:
    return _entity(entities.MfaDevice, row, user=user(owner) if owner is not None else None)


def policy_document(row: models.ManagedPolicy) -> entities.PolicyDocument:
    try:
        document: str | None = row.default_version.document
    except LookupError:
        document = None
    return entities.PolicyDocument(row.arn, document)


def _inline(
    rows: Iterable[models.UserInlinePolicy | models.GroupInlinePolicy | models.RoleInlinePolicy],
) -> tuple[entities.InlinePolicy, ...]:
    return tuple(entities.InlinePolicy(row.name, row.document) for row in rows)


def principal_policies(row: models.User | models.Group | models.Role) -> entities.PrincipalPolicies:
    """The principal with its policies; a user's groups come with theirs (their relationships must be loaded)."""
    kind: Literal["user", "group", "role"]
    groups: tuple[entities.PrincipalPolicies, ...] = ()
    if isinstance(row, models.User):
        kind, unique_id, boundary, tags = "user", row.user_id, row.permissions_boundary_arn, row.tags
        groups = tuple(principal_policies(group) for group in row.groups)
    elif isinstance(row, models.Group):
        kind, unique_id, boundary, tags = "group", row.group_id, None, {}
    else:
        kind, unique_id, boundary, tags = "role", row.role_id, row.permissions_boundary_arn, row.tags
    return entities.PrincipalPolicies(
        kind=kind,
        account_id=row.account_id,
        name=row.name,
        arn=row.arn,
        unique_id=unique_id,
        permissions_boundary_arn=boundary,
        tags=dict(tags or {}),
        inline=_inline(row.inline_policies),
        attached=tuple(policy_document(policy) for policy in row.attached_policies),
        groups=groups,
    )
