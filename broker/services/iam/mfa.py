"""Virtual MFA devices: creation (seed sealed at rest, shown once), assignment to users, and the
code checks STS and IAM share (one step of drift, each code accepted once, failures throttled).

A wrong code's failure count must outlive the refused call's rollback: the refusal is an
:class:`MfaRefused` whose ``persist_after_rollback`` the AWS endpoint runs in the transaction
that audits the refusal, so counting and auditing commit together.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import segno
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.crypto.box import SecretBox
from broker.iam import arn as arns
from broker.iam import limits, totp
from broker.iam.errors import AwsError
from broker.iam.names import (
    constraint_violation,
    name_key,
    validate_mfa_device_name,
    validate_path,
    validate_tags,
    validation_error,
)
from broker.services.iam._common import flush_or_exists
from broker.store import models
from broker.store import repositories as repo

ISSUER = "Broker"
INVALID_CODE = "Authentication code for device is not valid."
STS_NOT_ASSOCIATED = (
    "MultiFactorAuthentication failed, unable to validate MFA code. "
    "Please verify your MFA serial number is valid and associated with this user."
)
STS_INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
_LOCKED = "too many failed MFA attempts for this device; try again later"


class MfaRefused(AwsError):
    """A wrong code: refused, and counted against the device after the call rolls back."""

    def __init__(self, code: str, message: str, serial_number: str, now: dt.datetime) -> None:
        super().__init__(code, message)
        self.serial_number = serial_number
        self.now = now

    def persist_after_rollback(self, session: Session) -> None:
        device = repo.mfa_device(session, self.serial_number)
        if device is not None:
            record_failure(device, self.now)


def record_failure(device: models.MfaDevice, now: dt.datetime) -> None:
    window = dt.timedelta(seconds=limits.MFA_FAILURE_WINDOW_SECONDS)
    if device.failures_since is None or now - device.failures_since > window:
        device.failures_since = now
        device.failed_attempts = 0
    device.failed_attempts += 1
    if device.failed_attempts >= limits.MFA_MAX_FAILURES:
        device.locked_until = now + dt.timedelta(seconds=limits.MFA_LOCKOUT_SECONDS)
        device.failed_attempts = 0
        device.failures_since = None


def _locked(device: models.MfaDevice, now: dt.datetime) -> bool:
    return device.locked_until is not None and device.locked_until > now


def _seed(box: SecretBox, device: models.MfaDevice) -> bytes:
    return totp.seed_from_base32(box.open(device.seed_sealed, device.serial_number))


def _step(now: dt.datetime) -> int:
    return totp.time_step(now.timestamp())


def qr_code_png(uri: str) -> str:
    """The otpauth URI as a base64 PNG QR code, for authenticator apps to scan."""
    buffer = io.BytesIO()
    segno.make_qr(uri, error="m").save(buffer, kind="png", scale=4)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class NewDevice:
    device: models.MfaDevice
    base32_seed: str
    qr_code_png: str | None


_SERIAL = re.compile(r"[\w+=/:,.@-]+", re.ASCII)
_CODE = re.compile(r"\d+", re.ASCII)


def _checked(value: str | None, field: str, low: int, high: int, pattern: re.Pattern[str], text: str) -> str:
    if value is None:
        raise validation_error([constraint_violation(None, field, "must not be null")])
    violations: list[str] = []
    if len(value) < low:
        violations.append(constraint_violation(value, field, f"must have length greater than or equal to {low}"))
    if len(value) > high:
        violations.append(constraint_violation(value, field, f"must have length less than or equal to {high}"))
    if pattern.fullmatch(value) is None:
        violations.append(constraint_violation(value, field, f"must satisfy regular expression pattern: {text}"))
    if violations:
        raise validation_error(violations)
    return value


def validate_serial_number(serial_number: str | None, field: str = "serialNumber") -> str:
    return _checked(
        serial_number, field, limits.MFA_SERIAL_NUMBER_MIN, limits.MFA_SERIAL_NUMBER_MAX, _SERIAL, r"[\w+=/:,.@-]+"
    )


def validate_code(code: str | None, field: str) -> str:
    return _checked(code, field, 6, 6, _CODE, r"[\d]+")


def create_virtual_mfa_device(
    session: Session,
    box: SecretBox,
    account_id: str,
    name: str | None,
    path: str | None,
    now: dt.datetime,
    tags: Sequence[tuple[str, str]] = (),
) -> NewDevice:
    name = validate_mfa_device_name(name)
    path = validate_path(path or "/")
    tag_map = validate_tags(list(tags))
    serial = arns.mfa_arn(account_id, name, path)
    exists = "MFADevice entity at the same path and name already exists."
    if repo.mfa_device_by_name(session, account_id, name_key(name)) is not None or repo.mfa_device(session, serial):
        raise AwsError("EntityAlreadyExists", exists)
    count = session.scalar(select(func.count()).where(models.MfaDevice.account_id == account_id)) or 0
    if count >= limits.VIRTUAL_MFA_DEVICES_PER_ACCOUNT:
        raise AwsError(
            "LimitExceeded",
            f"Cannot exceed quota for VirtualMFADevicesPerAccount: {limits.VIRTUAL_MFA_DEVICES_PER_ACCOUNT}",
        )
    seed = totp.new_seed()
    seed_text = totp.base32_seed(seed)
    device = models.MfaDevice(
        serial_number=serial,
        account_id=account_id,
        name=name,
        name_key=name_key(name),
        path=path,
        seed_sealed=box.seal(seed_text, serial),
        created_at=now,
        tags=tag_map,
        user_pk=None,
        enabled_at=None,
        last_used_step=0,
        failed_attempts=0,
    )
    session.add(device)
    flush_or_exists(session, exists)
    uri = totp.otpauth_uri(seed, f"{name}@{account_id}", ISSUER)
    return NewDevice(device, seed_text, qr_code_png(uri))


def device_in_account(session: Session, account_id: str, serial_number: str) -> models.MfaDevice:
    device = repo.mfa_device(session, serial_number)
    if device is None or device.account_id != account_id:
        raise AwsError("NoSuchEntity", f"VirtualMFADevice with serial number {serial_number} doesn't exist.")
    return device


def _check_pair(box: SecretBox, device: models.MfaDevice, first: str, second: str, now: dt.datetime) -> int:
    """The step of the second of two consecutive codes, or an InvalidAuthenticationCode refusal."""
    if _locked(device, now):
        raise AwsError("InvalidAuthenticationCode", f"{INVALID_CODE} ({_LOCKED})")
    step = totp.matching_pair(_seed(box, device), first, second, _step(now))
    if step is None or step <= device.last_used_step:
        raise MfaRefused("InvalidAuthenticationCode", INVALID_CODE, device.serial_number, now)
    return step


def _accept(session: Session, device: models.MfaDevice, step: int) -> None:
    if not repo.use_mfa_step(session, device.serial_number, step):
        raise AwsError("InvalidAuthenticationCode", INVALID_CODE)
    session.expire(device, ["last_used_step"])
    device.failed_attempts = 0
    device.failures_since = None


def enable_mfa_device(
    session: Session,
    box: SecretBox,
    user: models.User,
    serial_number: str,
    code1: str,
    code2: str,
    now: dt.datetime,
) -> models.MfaDevice:
    device = repo.mfa_device(session, serial_number)
    if device is None or device.account_id != user.account_id:
        raise AwsError("NoSuchEntity", f"VirtualMFADevice with serial number {serial_number} doesn't exist.")
    if device.user_pk is not None:
        if device.user_pk == user.id:
            raise AwsError("EntityAlreadyExists", "MFA Device is already in use.")
        raise AwsError("EntityAlreadyExists", "MFA Device is already in use.")
    if len(repo.mfa_devices_of_user(session, user.id)) >= limits.MFA_DEVICES_PER_USER:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for MFADevicesPerUser: {limits.MFA_DEVICES_PER_USER}")
    step = _check_pair(box, device, code1, code2, now)
    _accept(session, device, step)
    device.user_pk = user.id
    device.enabled_at = now
    return device


def user_device(session: Session, user: models.User, serial_number: str) -> models.MfaDevice:
    device = repo.mfa_device(session, serial_number)
    if device is None or device.user_pk != user.id:
        raise AwsError("NoSuchEntity", f"MFA Device with serial number {serial_number} does not exist.")
    return device


def resync_mfa_device(
    session: Session,
    box: SecretBox,
    user: models.User,
    serial_number: str,
    code1: str,
    code2: str,
    now: dt.datetime,
) -> None:
    device = user_device(session, user, serial_number)
    if _locked(device, now):
        raise AwsError("InvalidAuthenticationCode", f"{INVALID_CODE} ({_LOCKED})")
    # A resync accepts a pair farther from the server's clock than a sign-in would.
    step = totp.matching_pair(_seed(box, device), code1, code2, _step(now), window=limits.MFA_RESYNC_WINDOW_STEPS)
    if step is None or step <= device.last_used_step:
        raise MfaRefused("InvalidAuthenticationCode", INVALID_CODE, device.serial_number, now)
    _accept(session, device, step)


def deactivate_mfa_device(session: Session, user: models.User, serial_number: str) -> None:
    device = user_device(session, user, serial_number)
    device.user_pk = None
    device.enabled_at = None
    device.failed_attempts = 0
    device.failures_since = None
    device.locked_until = None


def delete_virtual_mfa_device(session: Session, account_id: str, serial_number: str) -> None:
    device = repo.mfa_device(session, serial_number)
    if device is None or device.account_id != account_id:
        raise AwsError("NoSuchEntity", f"VirtualMFADevice with serial number {serial_number} doesn't exist.")
    if device.user_pk is not None:
        raise AwsError("DeleteConflict", "MFA Device is still in use.")
    session.delete(device)


def devices_of_user(session: Session, user: models.User) -> list[models.MfaDevice]:
    return repo.mfa_devices_of_user(session, user.id)


ASSIGNMENT_STATUSES = ("Assigned", "Unassigned", "Any")


def virtual_devices(session: Session, account_id: str, status: str | None) -> list[models.MfaDevice]:
    status = status or "Any"
    if status not in ASSIGNMENT_STATUSES:
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value '{status}' at 'assignmentStatus' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Unassigned, Any, Assigned]",
        )
    devices = repo.mfa_devices_of_account(session, account_id)
    if status == "Assigned":
        return [d for d in devices if d.user_pk is not None]
    if status == "Unassigned":
        return [d for d in devices if d.user_pk is None]
    return devices


def verify_session_code(
    session: Session,
    box: SecretBox,
    user: models.User | None,
    serial_number: str,
    token_code: str,
    now: dt.datetime,
) -> int:
    """STS: check ``token_code`` against the user's enabled device ``serial_number``.

    Returns the authentication time (Unix seconds); refuses with STS's AccessDenied.
    """
    device = repo.mfa_device(session, serial_number)
    if user is None or device is None or device.user_pk != user.id:
        raise AwsError("AccessDenied", STS_NOT_ASSOCIATED)
    if _locked(device, now):
        raise AwsError("AccessDenied", f"MultiFactorAuthentication failed: {_LOCKED}.")
    step = totp.matching_step(_seed(box, device), token_code, _step(now), drift=limits.MFA_CLOCK_DRIFT_STEPS)
    if step is None:
        raise MfaRefused("AccessDenied", STS_INVALID_CODE, device.serial_number, now)
    if not repo.use_mfa_step(session, device.serial_number, step):
        # Already used (here or in another process): refused, but not a guess to throttle.
        raise AwsError("AccessDenied", "MultiFactorAuthentication failed: this MFA code was already used.")
    session.expire(device, ["last_used_step"])
    device.failed_attempts = 0
    device.failures_since = None
    return int(now.timestamp())
