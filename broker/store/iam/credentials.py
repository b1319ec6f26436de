"""Users' access keys and virtual MFA devices, with the MFA replay guard."""

from __future__ import annotations

from sqlalchemy import select, update

from broker.store import models
from broker.store.db import Tx
from broker.store.iam.rows import named


def access_key(tx: Tx, access_key_id: str) -> models.AccessKey | None:
    return tx.get(models.AccessKey, access_key_id)


def mfa_device(tx: Tx, serial_number: str) -> models.MfaDevice | None:
    return tx.get(models.MfaDevice, serial_number)


def mfa_device_by_name(tx: Tx, account_id: str, name_key: str) -> models.MfaDevice | None:
    return named(tx, models.MfaDevice, account_id, name_key)


def mfa_devices_of_account(tx: Tx, account_id: str) -> list[models.MfaDevice]:
    query = select(models.MfaDevice).where(models.MfaDevice.account_id == account_id)
    return list(tx.scalars(query.order_by(models.MfaDevice.serial_number)))


def mfa_devices_of_user(tx: Tx, user_pk: int) -> list[models.MfaDevice]:
    """The devices enabled for the user, oldest first."""
    query = select(models.MfaDevice).where(models.MfaDevice.user_pk == user_pk)
    return list(tx.scalars(query.order_by(models.MfaDevice.enabled_at, models.MfaDevice.serial_number)))


def use_mfa_step(tx: Tx, serial_number: str, step: int) -> bool:
    """Record that a code of ``step`` was accepted; False if one of this step or a later one was
    (a replay). One conditional UPDATE, so two processes cannot both accept the same code."""
    result = tx.execute(
        update(models.MfaDevice)
        .where(models.MfaDevice.serial_number == serial_number, models.MfaDevice.last_used_step < step)
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def accept_mfa_step(tx: Tx, device: models.MfaDevice, step: int) -> bool:
    """:func:`use_mfa_step` for a device the call holds; its ``last_used_step`` is read afresh next time."""
    if not use_mfa_step(tx, device.serial_number, step):
        return False
    tx.expire(device, ["last_used_step"])
    return True
