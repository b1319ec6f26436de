"""The CLI sign-in's state: authorization requests and their codes, device authorizations, CLI sessions.

Reads return frozen records (snapshots: re-read after a write); each change of state is one
statement here, and the ones that must happen once (a code's use, a device code's) are atomic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TypeVar

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from broker.store import models
from broker.store._snapshot import snapshot
from broker.store.db import Tx
from broker.store.federation import Expiring, changed_one
from broker.store.models.sign_in import UserCodeAttempts

R = TypeVar("R")


def _unique(tx: Tx, record_type: type[R], model: type[models.Base], **column: str) -> R | None:
    """The row of ``model`` a unique column names, as a record."""
    return snapshot(record_type, tx.scalar(select(model).filter_by(**column)))


@dataclass(frozen=True, kw_only=True)
class AuthorizeRequest:
    """A checked ``/cli/authorize`` query, as the pending authorization records it."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    state: str
    requested_role_arn: str | None
    requested_duration: int | None
    provider: str | None


@dataclass(frozen=True, kw_only=True)
class BrowserApproval:
    """What a person approved in a browser (set once they did): the role, the duration asked for,
    and the web session the CLI session will hang on."""

    web_session_hash: str | None = None
    role_arn: str | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True, kw_only=True)
class CliAuthorizationRecord(AuthorizeRequest, BrowserApproval, Expiring):
    """A ``/cli/authorize`` request by the SHA-256 of its handle; the code fields are set once a role is chosen."""

    request_hash: str
    code_hash: str | None = None
    code_expires_at: dt.datetime | None = None
    consumed_at: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class DeviceAuthorizationRecord(BrowserApproval, Expiring):
    """An RFC 8628 request by the SHA-256 of its device code; ``status`` is pending, approved, denied or consumed."""

    device_code_hash: str
    user_code: str
    client_id: str
    requested_role_arn: str | None
    requested_duration: int | None
    # Shown on the approval page so a person can tell their own request from a phished one.
    source_ip: str | None
    interval_seconds: int
    status: str
    last_polled_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    consumed_at: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CliSessionRecord(Expiring):
    """A CLI's hold on a web session, by the SHA-256 of its refresh handle."""

    handle_hash: str
    web_session_hash: str
    client_id: str
    subject: str
    provider_arn: str
    default_role_arn: str
    # The code or device code it came from: a replayed code revokes the session (RFC 6749 4.1.2).
    grant_ref: str
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


# --- the browser redirect (authorization code) --------------------------------------------------


def add_cli_authorization(tx: Tx, authorization: CliAuthorizationRecord) -> None:
    tx.add(models.CliAuthorization(**asdict(authorization)))


def cli_authorization(tx: Tx, request_hash: str) -> CliAuthorizationRecord | None:
    return snapshot(CliAuthorizationRecord, tx.get(models.CliAuthorization, request_hash))


def cli_authorization_by_code(tx: Tx, code_hash: str) -> CliAuthorizationRecord | None:
    return _unique(tx, CliAuthorizationRecord, models.CliAuthorization, code_hash=code_hash)


def grant_cli_code(
    tx: Tx,
    request_hash: str,
    *,
    code_hash: str,
    code_expires_at: dt.datetime,
    web_session_hash: str,
    role_arn: str,
    duration_seconds: int | None,
) -> None:
    """The person chose a role: the request now carries the one-time code that redeems it."""
    tx.execute(
        update(models.CliAuthorization)
        .where(models.CliAuthorization.request_hash == request_hash)
        .values(
            code_hash=code_hash,
            code_expires_at=code_expires_at,
            web_session_hash=web_session_hash,
            role_arn=role_arn,
            duration_seconds=duration_seconds,
        )
    )


def close_cli_authorization(tx: Tx, request_hash: str, now: dt.datetime) -> None:
    """A refused or cancelled request: it can never grant a code."""
    tx.execute(
        update(models.CliAuthorization)
        .where(models.CliAuthorization.request_hash == request_hash)
        .values(consumed_at=now)
    )


def consume_cli_code(tx: Tx, code_hash: str, now: dt.datetime) -> bool:
    """Mark a code used, atomically: of two racing exchanges exactly one gets True."""
    authorization = models.CliAuthorization
    unused = (authorization.code_hash == code_hash, authorization.consumed_at.is_(None))
    return changed_one(tx, update(authorization).where(*unused).values(consumed_at=now))


# --- device authorization -----------------------------------------------------------------------


def device_authorization(tx: Tx, device_code_hash: str) -> DeviceAuthorizationRecord | None:
    return snapshot(DeviceAuthorizationRecord, tx.get(models.DeviceAuthorization, device_code_hash))


def device_authorization_by_user_code(tx: Tx, user_code: str) -> DeviceAuthorizationRecord | None:
    return _unique(tx, DeviceAuthorizationRecord, models.DeviceAuthorization, user_code=user_code)


def add_device_authorization(tx: Tx, device: DeviceAuthorizationRecord) -> bool:
    """Insert; False if the user code is taken (the caller draws another)."""
    try:
        with tx.begin_nested():
            tx.add(models.DeviceAuthorization(**asdict(device)))
            tx.flush()
    except IntegrityError:
        return False
    return True


def approve_device_authorization(
    tx: Tx,
    device_code_hash: str,
    *,
    role_arn: str,
    duration_seconds: int | None,
    web_session_hash: str,
    now: dt.datetime,
) -> bool:
    """The person approved the pending request in a browser, for this role, from this web session;
    False if it was no longer pending (decided or locked meanwhile)."""
    return _decide_device(
        tx,
        device_code_hash,
        status="approved",
        role_arn=role_arn,
        duration_seconds=duration_seconds,
        web_session_hash=web_session_hash,
        decided_at=now,
    )


def deny_device_authorization(tx: Tx, device_code_hash: str, now: dt.datetime) -> bool:
    return _decide_device(tx, device_code_hash, status="denied", decided_at=now)


def _decide_device(tx: Tx, device_code_hash: str, **values: object) -> bool:
    device = models.DeviceAuthorization
    pending = (device.device_code_hash == device_code_hash, device.status == "pending")
    return changed_one(tx, update(device).where(*pending).values(**values))


def record_device_poll(tx: Tx, device_code_hash: str, now: dt.datetime, interval_seconds: int) -> None:
    """A poll of a pending request, and the interval the next one must keep (raised by ``slow_down``)."""
    _change_device(tx, device_code_hash, last_polled_at=now, interval_seconds=interval_seconds)


def _change_device(tx: Tx, device_code_hash: str, **values: object) -> None:
    tx.execute(
        update(models.DeviceAuthorization)
        .where(models.DeviceAuthorization.device_code_hash == device_code_hash)
        .values(**values)
    )


def lock_device_authorization(tx: Tx, device_code_hash: str, now: dt.datetime) -> bool:
    """Pending -> locked (too many failed attempts on it): it can no longer be approved. False if
    it was not pending any more."""
    device = models.DeviceAuthorization
    pending = (device.device_code_hash == device_code_hash, device.status == "pending")
    return changed_one(tx, update(device).where(*pending).values(status="locked", decided_at=now))


def consume_device_authorization(tx: Tx, device_code_hash: str, now: dt.datetime) -> bool:
    """Approved -> consumed, atomically: of two racing polls exactly one gets True."""
    device = models.DeviceAuthorization
    approved = (device.device_code_hash == device_code_hash, device.status == "approved")
    return changed_one(tx, update(device).where(*approved).values(status="consumed", consumed_at=now))


# --- wrong user codes -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UserCodeAttemptsRecord:
    """Wrong user codes counted against one key (a guesser or a device authorization)."""

    key_hash: str
    kind: str
    failures: int
    window_started_at: dt.datetime
    locked_until: dt.datetime | None
    expires_at: dt.datetime


def user_code_locks(tx: Tx, key_hashes: list[str], now: dt.datetime) -> list[UserCodeAttemptsRecord]:
    """The keys among ``key_hashes`` that are locked at ``now``."""
    attempts = UserCodeAttempts
    rows = tx.scalars(
        select(attempts).where(attempts.key_hash.in_(key_hashes), attempts.locked_until > now).order_by(attempts.kind)
    )
    return [snapshot(UserCodeAttemptsRecord, row) for row in rows]


def count_user_code_failure(
    tx: Tx,
    key_hash: str,
    kind: str,
    now: dt.datetime,
    *,
    window: dt.timedelta,
    max_failures: int,
    lockout: dt.timedelta,
) -> UserCodeAttemptsRecord:
    """One more wrong code against ``key_hash``; the count restarts once ``window`` has passed since
    the first one, and reaching ``max_failures`` within it locks the key for ``lockout``.

    The increment is one conditional UPDATE, so concurrent failures on any instance all count."""
    attempts = UserCodeAttempts
    stale = attempts.window_started_at <= now - window
    bump = (
        update(attempts)
        .where(attempts.key_hash == key_hash)
        .values(
            failures=case((stale, 1), else_=attempts.failures + 1),
            window_started_at=case((stale, now), else_=attempts.window_started_at),
        )
    )
    if not changed_one(tx, bump):
        try:
            with tx.begin_nested():
                tx.add(
                    attempts(
                        key_hash=key_hash,
                        kind=kind,
                        failures=1,
                        window_started_at=now,
                        locked_until=None,
                        expires_at=now + window,
                    )
                )
                tx.flush()
        except IntegrityError:  # another request counted the first failure at the same moment
            tx.execute(bump)
    row = tx.get(attempts, key_hash, populate_existing=True)
    assert row is not None
    if row.failures >= max_failures and (row.locked_until is None or row.locked_until <= now):
        row.locked_until = now + lockout
    row.expires_at = max(row.window_started_at + window, row.locked_until or now)
    tx.flush()
    return snapshot(UserCodeAttemptsRecord, row)


# --- CLI sessions -------------------------------------------------------------------------------


def add_cli_session(tx: Tx, cli_session: CliSessionRecord) -> None:
    tx.add(models.CliSession(**asdict(cli_session)))


def cli_session(tx: Tx, handle_hash: str) -> CliSessionRecord | None:
    return snapshot(CliSessionRecord, tx.get(models.CliSession, handle_hash))


def touch_cli_session(tx: Tx, handle_hash: str, now: dt.datetime) -> None:
    """The session's refresh handle was just used."""
    tx.execute(update(models.CliSession).where(models.CliSession.handle_hash == handle_hash).values(last_used_at=now))


def revoke_cli_session(tx: Tx, handle_hash: str, now: dt.datetime) -> None:
    tx.execute(update(models.CliSession).where(models.CliSession.handle_hash == handle_hash).values(revoked_at=now))


def revoke_cli_sessions_from(tx: Tx, grant_ref: str, now: dt.datetime) -> int:
    """Revoke the live sessions a code or device code opened; how many there were."""
    result = tx.execute(
        update(models.CliSession)
        .where(models.CliSession.grant_ref == grant_ref, models.CliSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def count_cli_sessions(tx: Tx, web_session_hash: str, now: dt.datetime) -> int:
    """Live CLI sessions that hang on a web session."""
    return (
        tx.scalar(
            select(func.count()).where(
                models.CliSession.web_session_hash == web_session_hash,
                models.CliSession.revoked_at.is_(None),
                models.CliSession.expires_at > now,
            )
        )
        or 0
    )


def purge_cli_expired(tx: Tx, now: dt.datetime) -> None:
    # Used codes are kept an hour past expiry so that a replay is still recognised as one.
    grace = now - dt.timedelta(hours=1)
    tx.execute(delete(models.CliAuthorization).where(models.CliAuthorization.expires_at < grace))
    tx.execute(delete(models.DeviceAuthorization).where(models.DeviceAuthorization.expires_at < grace))
    tx.execute(delete(models.CliSession).where(models.CliSession.expires_at < now))
    tx.execute(delete(UserCodeAttempts).where(UserCodeAttempts.expires_at < now))


def live_cli_sessions(tx: Tx, now: dt.datetime) -> list[CliSessionRecord]:
    """Every CLI session neither revoked nor ended, oldest first (for `broker sessions`)."""
    rows = tx.scalars(
        select(models.CliSession)
        .where(models.CliSession.revoked_at.is_(None), models.CliSession.expires_at > now)
        .order_by(models.CliSession.created_at, models.CliSession.handle_hash)
    )
    return [snapshot(CliSessionRecord, row) for row in rows]
