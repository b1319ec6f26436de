"""Virtual MFA devices: creation (seed sealed at rest, shown once), assignment to users, and the
code checks STS and IAM share (one step of drift, each code accepted once, failures throttled).

A wrong code's failure count must outlive the refused call's rollback: the refusal
(:class:`MfaRefused`, or :class:`SessionMfaRefused` for STS) has an ``after_rollback`` the
AWS endpoint runs in the transaction that audits the refusal, so counting and auditing commit together.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import segno

from broker.crypto.box import SecretBox
from broker.iam import arn as arns
from broker.iam import entities, limits, totp
from broker.iam.entities import MfaDevice
from broker.iam.errors import AccessDenied, AwsError, InvalidAuthenticationCode
from broker.iam.names import name_key, validate_mfa_device_name, validate_path, validate_tags
from broker.services.iam._common import QuotaOwner, check_quota, written_or_conflict
from broker.services.iam.paging import Entry
from broker.services.iam.users import get_user
from broker.services.iam.views import virtual_mfa_device_view
from broker.services.ratelimit import RateLimiter
from broker.store import Tx
from broker.store.iam import credentials
from broker.store.iam.credentials import MfaDeviceState

ISSUER = "Broker"
INVALID_CODE = "Authentication code for device is not valid."
STS_NOT_ASSOCIATED = (
    "MultiFactorAuthentication failed, unable to validate MFA code. "
    "Please verify your MFA serial number is valid and associated with this user."
)
STS_INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
_NO_SUCH_DEVICE = "VirtualMFADevice with serial number {} doesn't exist."
_LOCKED = "too many failed MFA attempts for this device; try again later"
# How far from the server's clock a pair of codes typed to enable a device may lie, in time steps.
_PAIR_WINDOW_STEPS = 2


class _CountedRefusal:
    """A wrong code: refused, and counted against the device after the call rolls back."""

    serial_number: str
    now: dt.datetime
    leaves_state = True
    # The limiter that charged the check, if any: its charge may have rolled back with the call.
    limiter: RateLimiter | None = None

    def after_rollback(self, tx: Tx) -> None:
        record_failure(tx, self.serial_number, self.now)
        if self.limiter is not None:
            self.limiter.charge_again("mfa", self.serial_number, tx)


class MfaRefused(_CountedRefusal, InvalidAuthenticationCode):
    """EnableMFADevice, ResyncMFADevice: codes the device did not generate."""

    def __init__(self, serial_number: str, now: dt.datetime) -> None:
        super().__init__("InvalidAuthenticationCode", INVALID_CODE)
        self.serial_number = serial_number
        self.now = now


class SessionMfaRefused(_CountedRefusal, AccessDenied):
    """AssumeRole, GetSessionToken: a code the device did not generate (STS answers AccessDenied)."""

    def __init__(self, serial_number: str, now: dt.datetime) -> None:
        super().__init__("AccessDenied", STS_INVALID_CODE)
        self.serial_number = serial_number
        self.now = now


def record_failure(tx: Tx, serial_number: str, now: dt.datetime) -> None:
    credentials.count_mfa_failure(
        tx,
        serial_number,
        now,
        window=dt.timedelta(seconds=limits.MFA_FAILURE_WINDOW_SECONDS),
        max_failures=limits.MFA_MAX_FAILURES,
        lockout=dt.timedelta(seconds=limits.MFA_LOCKOUT_SECONDS),
    )


def _locked(device: MfaDeviceState, now: dt.datetime) -> bool:
    return device.locked_until is not None and device.locked_until > now


def _seed(box: SecretBox, device: MfaDeviceState) -> bytes:
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
    """A device just created: the only time its seed is shown."""

    serial_number: str
    tags: dict[str, str]
    base32_seed: str
    qr_code_png: str | None


def create_virtual_mfa_device(
    tx: Tx,
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
    if credentials.mfa_device_named(tx, account_id, name_key(name)) or credentials.mfa_device_state(tx, serial):
        raise AwsError("EntityAlreadyExists", exists)
    check_quota(
        tx,
        QuotaOwner.account(account_id),
        lambda: credentials.count_mfa_devices(tx, account_id),
        "VirtualMFADevicesPerAccount",
        limits.VIRTUAL_MFA_DEVICES_PER_ACCOUNT,
    )
    seed = totp.new_seed()
    seed_text = totp.base32_seed(seed)
    device = MfaDevice(serial_number=serial, account_id=account_id, name=name, path=path, create_date=now, tags=tag_map)
    if not credentials.add_mfa_device(tx, device, box.seal(seed_text, serial)):
        raise AwsError("EntityAlreadyExists", exists)
    uri = totp.otpauth_uri(seed, f"{name}@{account_id}", ISSUER)
    return NewDevice(serial, tag_map, seed_text, qr_code_png(uri))


def device_in_account(tx: Tx, account_id: str, serial_number: str) -> MfaDevice:
    device = credentials.mfa_device_value(tx, serial_number)
    if device is None or device.account_id != account_id:
        raise AwsError("NoSuchEntity", _NO_SUCH_DEVICE.format(serial_number))
    return device


def _device_state_in_account(tx: Tx, account_id: str, serial_number: str) -> MfaDeviceState:
    device = credentials.mfa_device_state(tx, serial_number)
    if device is None or device.account_id != account_id:
        raise AwsError("NoSuchEntity", _NO_SUCH_DEVICE.format(serial_number))
    return device


@dataclass(frozen=True)
class CodePair:
    """EnableMFADevice, ResyncMFADevice: the user, the device, and two consecutive codes it showed."""

    user_name: str
    serial_number: str
    code1: str
    code2: str


def _check_pair(box: SecretBox, device: MfaDeviceState, pair: CodePair, now: dt.datetime, window: int) -> int:
    """The step of the second of two consecutive codes, or an InvalidAuthenticationCode refusal."""
    if _locked(device, now):
        raise AwsError("InvalidAuthenticationCode", f"{INVALID_CODE} ({_LOCKED})")
    step = totp.matching_pair(_seed(box, device), pair.code1, pair.code2, _step(now), window=window)
    if step is None or step <= device.last_used_step:
        raise MfaRefused(device.serial_number, now)
    return step


def _accept(tx: Tx, device: MfaDeviceState, step: int) -> bool:
    """Accept a code of ``step`` once, forgetting earlier failures; False if it (or a later one) was accepted before."""
    if not credentials.use_mfa_step(tx, device.serial_number, step):
        return False
    if device.failed_attempts or device.failures_since is not None:
        credentials.clear_mfa_failures(tx, device.serial_number)
    return True


def enable_mfa_device(tx: Tx, box: SecretBox, account_id: str, pair: CodePair, now: dt.datetime) -> None:
    user = get_user(tx, account_id, pair.user_name)
    device = _device_state_in_account(tx, account_id, pair.serial_number)
    if device.user_id is not None:
        raise AwsError("EntityAlreadyExists", "MFA Device is already in use.")
    check_quota(
        tx,
        QuotaOwner("User", user.user_id, user.name),
        lambda: len(credentials.user_mfa_devices(tx, user.user_id)),
        "MFADevicesPerUser",
        limits.MFA_DEVICES_PER_USER,
    )
    step = _check_pair(box, device, pair, now, _PAIR_WINDOW_STEPS)
    if not _accept(tx, device, step):
        raise AwsError("InvalidAuthenticationCode", INVALID_CODE)
    credentials.enable_mfa_device(tx, device.serial_number, user.user_id, now)


def _user_device(tx: Tx, account_id: str, user_name: str, serial_number: str) -> MfaDeviceState:
    user = get_user(tx, account_id, user_name)
    device = credentials.user_mfa_device(tx, serial_number, user.user_id)
    if device is None:
        raise AwsError("NoSuchEntity", f"MFA Device with serial number {serial_number} does not exist.")
    return device


def resync_mfa_device(tx: Tx, box: SecretBox, account_id: str, pair: CodePair, now: dt.datetime) -> None:
    device = _user_device(tx, account_id, pair.user_name, pair.serial_number)
    # A resync accepts a pair farther from the server's clock than enabling would.
    step = _check_pair(box, device, pair, now, limits.MFA_RESYNC_WINDOW_STEPS)
    if not _accept(tx, device, step):
        raise AwsError("InvalidAuthenticationCode", INVALID_CODE)


def deactivate_mfa_device(tx: Tx, account_id: str, user_name: str, serial_number: str) -> None:
    device = _user_device(tx, account_id, user_name, serial_number)
    credentials.deactivate_mfa_device(tx, device.serial_number)


def delete_virtual_mfa_device(tx: Tx, account_id: str, serial_number: str) -> None:
    device = _device_state_in_account(tx, account_id, serial_number)
    if device.user_id is not None:
        raise AwsError("DeleteConflict", "MFA Device is still in use.")
    written_or_conflict(credentials.delete_mfa_device(tx, device.serial_number))


def list_mfa_devices(tx: Tx, account_id: str, user_name: str) -> list[Entry[dict[str, Any]]]:
    """ListMFADevices: the user's enabled devices."""
    user = get_user(tx, account_id, user_name)
    return [
        Entry(d.serial_number, {"UserName": user.name, "SerialNumber": d.serial_number, "EnableDate": d.enable_date})
        for d in credentials.user_mfa_devices(tx, user.user_id)
    ]


ASSIGNMENT_STATUSES = ("Assigned", "Unassigned", "Any")


def virtual_devices(tx: Tx, account_id: str, status: str | None) -> list[Entry[dict[str, Any]]]:
    """ListVirtualMFADevices, by assignment status."""
    status = status or "Any"
    if status not in ASSIGNMENT_STATUSES:
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value '{status}' at 'assignmentStatus' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Unassigned, Any, Assigned]",
        )
    wanted = {"Assigned": (True,), "Unassigned": (False,), "Any": (True, False)}[status]
    return [
        Entry(d.serial_number, virtual_mfa_device_view(d))
        for d in credentials.account_mfa_devices(tx, account_id)
        if (d.user is not None) in wanted
    ]


def verify_session_code(
    tx: Tx,
    box: SecretBox,
    user: entities.User | None,
    serial_number: str,
    token_code: str,
    now: dt.datetime,
    limiter: RateLimiter | None = None,
) -> int:
    """STS: check ``token_code`` against the user's enabled device ``serial_number``.

    Returns the authentication time (Unix seconds); refuses with STS's AccessDenied, or with
    Throttling when the device's ``mfa`` rate limit is spent (charged once the device is known
    to be the caller's, so nobody else can spend it).
    """
    device = credentials.user_mfa_device(tx, serial_number, user.user_id) if user is not None else None
    if device is None:
        raise AwsError("AccessDenied", STS_NOT_ASSOCIATED)
    if limiter is not None:
        # Every throttled check is audited: they are few (one device's) and each is a guess.
        limiter.enforce("mfa", device.serial_number, tx=tx, always_audited=True)
    if _locked(device, now):
        raise AwsError("AccessDenied", f"MultiFactorAuthentication failed: {_LOCKED}.")
    step = totp.matching_step(_seed(box, device), token_code, _step(now), drift=limits.MFA_CLOCK_DRIFT_STEPS)
    if step is None:
        refused = SessionMfaRefused(device.serial_number, now)
        refused.limiter = limiter
        raise refused
    if not _accept(tx, device, step):
        # Already used (here or in another process): refused, but not a guess to throttle.
        raise AwsError("AccessDenied", "MultiFactorAuthentication failed: this MFA code was already used.")
    return int(now.timestamp())
