"""Tags and permissions boundaries: the attributes several kinds of IAM entity share, each set
by one UPDATE on the entity's unique handle (user id, role id, ARN, serial number)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import update

from broker.store import models
from broker.store.db import Tx

TaggableKind = Literal["User", "Role", "Policy", "SAMLProvider", "MFADevice"]
BoundedKind = Literal["User", "Role"]

# Per kind: the model, and the column a handle names it by.
_HANDLES: dict[str, tuple[type[Any], Any]] = {
    "User": (models.User, models.User.user_id),
    "Role": (models.Role, models.Role.role_id),
    "Policy": (models.ManagedPolicy, models.ManagedPolicy.arn),
    "SAMLProvider": (models.SamlProvider, models.SamlProvider.arn),
    "MFADevice": (models.MfaDevice, models.MfaDevice.serial_number),
}


def _set(tx: Tx, kind: str, handle: str, **columns: object) -> None:
    model, column = _HANDLES[kind]
    tx.execute(update(model).where(column == handle).values(**columns))


def set_tags(tx: Tx, kind: TaggableKind, handle: str, tags: Mapping[str, str]) -> None:
    """Replace the tags of the ``kind`` entity ``handle`` names (user id, role id, ARN or serial number)."""
    _set(tx, kind, handle, tags=dict(tags))


def set_permissions_boundary(tx: Tx, kind: BoundedKind, handle: str, policy_arn: str | None) -> None:
    """Set (or with None remove) the permissions boundary of the user or role with unique id ``handle``."""
    _set(tx, kind, handle, permissions_boundary_arn=policy_arn)
