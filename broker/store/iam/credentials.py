"""Users' access keys and virtual MFA devices, with the MFA replay guard."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, case, delete, func, insert, or_, select, update

from broker.iam import entities
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values
from broker.store.iam import rows
from broker.store.iam.rows import named

# --- access keys, as values ---------------------------------------------------------------------------


def _keys_with_owner() -> Select[models.AccessKey, str]:
    return select(models.AccessKey, models.User.name).join(models.User, models.User.id == models.AccessKey.user_pk)


def user_access_keys(tx: Tx, user_id: str) -> list[entities.AccessKey]:
    """The user's access keys, oldest first."""
    query = _keys_with_owner().where(models.User.user_id == user_id).order_by(models.AccessKey.created_at)
    return [values.access_key(key, user_name) for key, user_name in tx.execute(query)]


def count_access_keys(tx: Tx, user_id: str) -> int:
    query = (
        select(func.count()).select_from(models.AccessKey).join(models.User, models.User.id == models.AccessKey.user_pk)
    )
    return tx.scalar(query.where(models.User.user_id == user_id)) or 0


def access_key_of(
    tx: Tx, access_key_id: str, *, user_id: str | None = None, account_id: str | None = None
) -> entities.AccessKey | None:
    """The key, if it is the user's (``user_id``) or the account's (``account_id``)."""
    query = _keys_with_owner().where(models.AccessKey.access_key_id == access_key_id)
    if user_id is not None:
        query = query.where(models.User.user_id == user_id)
    if account_id is not None:
        query = query.where(models.User.account_id == account_id)
    found = tx.execute(query).first()
    return values.access_key(found[0], found[1]) if found is not None else None


def add_access_key(tx: Tx, user_id: str, access_key_id: str, secret_sealed: str, now: dt.datetime) -> bool:
    """A new Active key of the user; False if a constraint refuses it (the user was just deleted)."""
    owner = select(models.User.id).where(models.User.user_id == user_id).scalar_subquery()
    return rows.execute(
        tx,
        insert(models.AccessKey).values(
            access_key_id=access_key_id, user_pk=owner, secret_sealed=secret_sealed, status="Active", created_at=now
        ),
    )


def set_access_key_status(tx: Tx, access_key_id: str, status: entities.AccessKeyStatus) -> None:
    tx.execute(update(models.AccessKey).where(models.AccessKey.access_key_id == access_key_id).values(status=status))


def delete_access_key(tx: Tx, access_key_id: str) -> None:
    tx.execute(delete(models.AccessKey).where(models.AccessKey.access_key_id == access_key_id))


# --- MFA devices --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MfaDeviceState:
    """What checking a code needs: the sealed seed, the replay guard and the failure throttle."""

    serial_number: str
    account_id: str
    user_id: str | None  # the user it is enabled for
    seed_sealed: str
    last_used_step: int
    failed_attempts: int
    failures_since: dt.datetime | None
    locked_until: dt.datetime | None


def _state(device: models.MfaDevice, user_id: str | None) -> MfaDeviceState:
    return MfaDeviceState(
        device.serial_number,
        device.account_id,
        user_id,
        device.seed_sealed,
        device.last_used_step,
        device.failed_attempts,
        device.failures_since,
        device.locked_until,
    )


def _devices_with_owner() -> Select[models.MfaDevice, models.User]:
    return select(models.MfaDevice, models.User).outerjoin(models.User, models.User.id == models.MfaDevice.user_pk)


def mfa_device_state(tx: Tx, serial_number: str) -> MfaDeviceState | None:
    found = tx.execute(_devices_with_owner().where(models.MfaDevice.serial_number == serial_number)).first()
    return _state(found[0], found[1].user_id if found[1] is not None else None) if found is not None else None


def user_mfa_device(tx: Tx, serial_number: str, user_id: str) -> MfaDeviceState | None:
    """The device ``serial_number`` if it is enabled for the user with unique id ``user_id``."""
    device = tx.scalar(
        select(models.MfaDevice)
        .join(models.User, models.User.id == models.MfaDevice.user_pk)
        .where(models.MfaDevice.serial_number == serial_number, models.User.user_id == user_id)
    )
    return _state(device, user_id) if device is not None else None


def mfa_device_value(tx: Tx, serial_number: str) -> entities.MfaDevice | None:
    found = tx.execute(_devices_with_owner().where(models.MfaDevice.serial_number == serial_number)).first()
    return values.mfa_device(found[0], found[1]) if found is not None else None


def mfa_device_named(tx: Tx, account_id: str, key: str) -> bool:
    return named(tx, models.MfaDevice, account_id, key) is not None


def account_mfa_devices(tx: Tx, account_id: str) -> list[entities.MfaDevice]:
    query = _devices_with_owner().where(models.MfaDevice.account_id == account_id)
    return [values.mfa_device(d, u) for d, u in tx.execute(query.order_by(models.MfaDevice.serial_number))]


def user_mfa_devices(tx: Tx, user_id: str) -> list[entities.MfaDevice]:
    """The devices enabled for the user, oldest first."""
    query = _devices_with_owner().where(models.User.user_id == user_id)
    query = query.order_by(models.MfaDevice.enabled_at, models.MfaDevice.serial_number)
    return [values.mfa_device(d, u) for d, u in tx.execute(query)]


def count_mfa_devices(tx: Tx, account_id: str) -> int:
    query = select(func.count()).select_from(models.MfaDevice).where(models.MfaDevice.account_id == account_id)
    return tx.scalar(query) or 0


def add_mfa_device(tx: Tx, device: entities.MfaDevice, seed_sealed: str) -> bool:
    """Store a new, unassigned device; False if a concurrent request took its name or serial number."""
    # Unassigned: no user, never used, never refused.
    fields = values.columns(device, leave_out=("user",))
    row = models.MfaDevice(**fields, seed_sealed=seed_sealed, user_pk=None, last_used_step=0, failed_attempts=0)
    return rows.insert(tx, row)


def _update_device(tx: Tx, serial_number: str, **columns: object) -> None:
    tx.execute(update(models.MfaDevice).where(models.MfaDevice.serial_number == serial_number).values(**columns))


def count_mfa_failure(
    tx: Tx, serial_number: str, now: dt.datetime, *, window: dt.timedelta, max_failures: int, lockout: dt.timedelta
) -> None:
    """One more wrong code against the device: the count restarts once ``window`` has passed since
    the first one, and reaching ``max_failures`` within it locks the device for ``lockout``.

    One UPDATE computes the new state from the row as stored, so wrong codes tried at the same
    time on any instance all count (PostgreSQL re-reads a row another transaction updated first)."""
    device = models.MfaDevice
    stale = or_(device.failures_since.is_(None), device.failures_since < now - window)
    counted = case((stale, 1), else_=device.failed_attempts + 1)
    reached = counted >= max_failures
    _update_device(
        tx,
        serial_number,
        failed_attempts=case((reached, 0), else_=counted),
        failures_since=case((reached, None), (stale, now), else_=device.failures_since),
        locked_until=case((reached, now + lockout), else_=device.locked_until),
    )


def clear_mfa_failures(tx: Tx, serial_number: str) -> None:
    """A code accepted: earlier failures are forgotten (a lockout in force stays)."""
    _update_device(tx, serial_number, failed_attempts=0, failures_since=None)


def enable_mfa_device(tx: Tx, serial_number: str, user_id: str, now: dt.datetime) -> None:
    owner = select(models.User.id).where(models.User.user_id == user_id).scalar_subquery()
    _update_device(tx, serial_number, user_pk=owner, enabled_at=now)


def deactivate_mfa_device(tx: Tx, serial_number: str) -> None:
    """Unassign the device and clear its throttle."""
    _update_device(
        tx, serial_number, user_pk=None, enabled_at=None, failed_attempts=0, failures_since=None, locked_until=None
    )


def delete_mfa_device(tx: Tx, serial_number: str) -> bool:
    """False if the database refuses (a concurrent request just used it)."""
    return rows.execute(tx, delete(models.MfaDevice).where(models.MfaDevice.serial_number == serial_number))


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
