"""Instance profiles and the role each holds."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, func, insert, select, update

from broker.iam.instance_profile import InstanceProfile
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values
from broker.store.iam import rows

_LINKS = models.instance_profile_roles


def _value(row: models.InstanceProfile, roles: list[models.Role]) -> InstanceProfile:
    return InstanceProfile(
        account_id=row.account_id,
        name=row.name,
        path=row.path,
        instance_profile_id=row.instance_profile_id,
        arn=row.arn,
        create_date=row.created_at,
        tags=dict(row.tags or {}),
        roles=tuple(values.role(role) for role in roles),
    )


def _roles_of(tx: Tx, profile_pks: list[int]) -> dict[int, list[models.Role]]:
    held: dict[int, list[models.Role]] = {pk: [] for pk in profile_pks}
    if profile_pks:
        query = (
            select(_LINKS.c.profile_pk, models.Role)
            .join(models.Role, models.Role.id == _LINKS.c.role_pk)
            .where(_LINKS.c.profile_pk.in_(profile_pks))
            .order_by(models.Role.name_key)
        )
        for profile_pk, role in tx.execute(query):
            held[profile_pk].append(role)
    return held


def _values(tx: Tx, found: list[models.InstanceProfile]) -> list[InstanceProfile]:
    held = _roles_of(tx, [row.id for row in found])
    return [_value(row, held[row.id]) for row in found]


def find(tx: Tx, account_id: str, name_key: str) -> InstanceProfile | None:
    model = models.InstanceProfile
    row = tx.scalar(select(model).where(model.account_id == account_id, model.name_key == name_key))
    return _values(tx, [row])[0] if row is not None else None


def count(tx: Tx, account_id: str) -> int:
    query = select(func.count()).select_from(models.InstanceProfile)
    return tx.scalar(query.where(models.InstanceProfile.account_id == account_id)) or 0


def add(tx: Tx, profile: InstanceProfile) -> bool:
    """A new, empty profile; False if a concurrent request took its name."""
    row = models.InstanceProfile(
        account_id=profile.account_id,
        name=profile.name,
        name_key=profile.name.casefold(),
        path=profile.path,
        instance_profile_id=profile.instance_profile_id,
        arn=profile.arn,
        created_at=profile.create_date,
        tags=dict(profile.tags),
    )
    return rows.insert(tx, row)


def listing(tx: Tx, account_id: str, path_prefix: str) -> list[InstanceProfile]:
    query = select(models.InstanceProfile).where(
        models.InstanceProfile.account_id == account_id, models.InstanceProfile.path.startswith(path_prefix)
    )
    return _values(tx, list(tx.scalars(query.order_by(models.InstanceProfile.name_key))))


def for_role(tx: Tx, role_id: str) -> list[InstanceProfile]:
    """The profiles holding the role with unique id ``role_id``, by name."""
    query = (
        select(models.InstanceProfile)
        .join(_LINKS, _LINKS.c.profile_pk == models.InstanceProfile.id)
        .join(models.Role, models.Role.id == _LINKS.c.role_pk)
        .where(models.Role.role_id == role_id)
        .order_by(models.InstanceProfile.name_key)
    )
    return _values(tx, list(tx.scalars(query)))


def _profile_pk(profile_id: str) -> object:
    column = models.InstanceProfile.instance_profile_id
    return select(models.InstanceProfile.id).where(column == profile_id).scalar_subquery()


def _role_pk(role_id: str) -> object:
    return select(models.Role.id).where(models.Role.role_id == role_id).scalar_subquery()


def count_roles(tx: Tx, profile_id: str) -> int:
    return (
        tx.scalar(select(func.count()).select_from(_LINKS).where(_LINKS.c.profile_pk == _profile_pk(profile_id))) or 0
    )


def add_role(tx: Tx, profile_id: str, role_id: str) -> bool:
    """False if a constraint refuses it (the role or profile was just deleted, or already linked)."""
    return rows.execute(tx, insert(_LINKS).values(profile_pk=_profile_pk(profile_id), role_pk=_role_pk(role_id)))


def remove_role(tx: Tx, profile_id: str, role_id: str) -> None:
    tx.execute(
        delete(_LINKS).where(_LINKS.c.profile_pk == _profile_pk(profile_id), _LINKS.c.role_pk == _role_pk(role_id))
    )


def delete_profile(tx: Tx, profile_id: str) -> bool:
    """False if a constraint refuses it."""
    column = models.InstanceProfile.instance_profile_id
    return rows.execute(tx, delete(models.InstanceProfile).where(column == profile_id))


def set_tags(tx: Tx, profile_id: str, tags: Mapping[str, str]) -> None:
    column = models.InstanceProfile.instance_profile_id
    tx.execute(update(models.InstanceProfile).where(column == profile_id).values(tags=dict(tags)))
