"""AWS SSO compatibility state: client registrations, authorizations, SSO sessions and access tokens.

Reads return frozen records; the changes that must happen once (a code's use, a device code's
use, a decision on a pending authorization) are single guarded UPDATEs, so of two racing
requests on any instances exactly one wins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from broker.store._snapshot import snapshot
from broker.store.db import Tx
from broker.store.federation import changed_one
from broker.store.models.iam import Account
from broker.store.models.sso import SsoAccessToken, SsoAuthorization, SsoClient, SsoSession


@dataclass(frozen=True, kw_only=True)
class SsoClientRecord:
    client_id: str
    client_secret_hash: str
    client_name: str
    client_type: str
    registration: dict[str, Any]
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class SsoAuthorizationRecord:
    """``kind`` device (by the hash of its device code) or code (by the hash of its request handle)."""

    grant_hash: str
    kind: str
    client_id: str
    interval_seconds: int
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime
    user_code: str | None = None
    redirect_uri: str | None = None
    state: str | None = None
    code_challenge: str | None = None
    code_hash: str | None = None
    start_url: str | None = None
    source_ip: str | None = None
    web_session_hash: str | None = None
    last_polled_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    consumed_at: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SsoSessionRecord:
    session_id: str
    refresh_hash: str
    client_id: str
    subject: str
    provider_arn: str
    sign_in: dict[str, Any]
    grant_ref: str
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True)
class AccountLabel:
    """What the portal shows of an account: its name (the organization's, else the alias) and email."""

    account_id: str
    name: str
    email: str | None


def account_labels(tx: Tx, account_ids: list[str]) -> dict[str, AccountLabel]:
    rows = tx.execute(select(Account.id, Account.name, Account.alias, Account.email).where(Account.id.in_(account_ids)))
    return {row.id: AccountLabel(row.id, row.name or row.alias or row.id, row.email or None) for row in rows}


# --- client registrations ----------------------------------------------------------------------


def add_client(tx: Tx, client: SsoClientRecord) -> None:
    tx.add(SsoClient(**asdict(client)))


def client(tx: Tx, client_id: str) -> SsoClientRecord | None:
    return snapshot(SsoClientRecord, tx.get(SsoClient, client_id))


# --- authorizations ----------------------------------------------------------------------------


def add_authorization(tx: Tx, authorization: SsoAuthorizationRecord) -> bool:
    """Insert; False if the user code is taken (the caller draws another)."""
    try:
        with tx.begin_nested():
            tx.add(SsoAuthorization(**asdict(authorization)))
            tx.flush()
    except IntegrityError:
        return False
    return True


def authorization(tx: Tx, grant_hash: str) -> SsoAuthorizationRecord | None:
    return snapshot(SsoAuthorizationRecord, tx.get(SsoAuthorization, grant_hash))


def authorization_by_user_code(tx: Tx, user_code: str) -> SsoAuthorizationRecord | None:
    row = tx.scalar(select(SsoAuthorization).where(SsoAuthorization.user_code == user_code))
    return snapshot(SsoAuthorizationRecord, row)


def authorization_by_code(tx: Tx, code_hash: str) -> SsoAuthorizationRecord | None:
    row = tx.scalar(select(SsoAuthorization).where(SsoAuthorization.code_hash == code_hash))
    return snapshot(SsoAuthorizationRecord, row)


def decide(tx: Tx, grant_hash: str, status: str, now: dt.datetime, **values: Any) -> bool:
    """Pending -> ``status`` (approved, denied, locked), with ``values``; False if no longer pending."""
    pending = (SsoAuthorization.grant_hash == grant_hash, SsoAuthorization.status == "pending")
    statement = update(SsoAuthorization).where(*pending).values(status=status, decided_at=now, **values)
    return changed_one(tx, statement)


def record_poll(tx: Tx, grant_hash: str, now: dt.datetime, interval_seconds: int) -> None:
    tx.execute(
        update(SsoAuthorization)
        .where(SsoAuthorization.grant_hash == grant_hash)
        .values(last_polled_at=now, interval_seconds=interval_seconds)
    )


def consume(tx: Tx, grant_hash: str, now: dt.datetime) -> bool:
    """Approved -> consumed, atomically: of two racing exchanges exactly one gets True."""
    approved = (SsoAuthorization.grant_hash == grant_hash, SsoAuthorization.status == "approved")
    return changed_one(tx, update(SsoAuthorization).where(*approved).values(status="consumed", consumed_at=now))


# --- SSO sessions and access tokens ------------------------------------------------------------


def add_session(tx: Tx, session: SsoSessionRecord) -> None:
    tx.add(SsoSession(**asdict(session)))
    tx.flush()


def session(tx: Tx, session_id: str) -> SsoSessionRecord | None:
    return snapshot(SsoSessionRecord, tx.get(SsoSession, session_id))


def session_by_refresh(tx: Tx, refresh_hash: str) -> SsoSessionRecord | None:
    return snapshot(SsoSessionRecord, tx.scalar(select(SsoSession).where(SsoSession.refresh_hash == refresh_hash)))


def add_access_token(tx: Tx, token_hash: str, session_id: str, now: dt.datetime, expires_at: dt.datetime) -> None:
    tx.add(SsoAccessToken(token_hash=token_hash, session_id=session_id, created_at=now, expires_at=expires_at))


def session_by_access_token(tx: Tx, token_hash: str) -> tuple[SsoSessionRecord, dt.datetime] | None:
    """The session an access token belongs to and the token's expiry: one statement."""
    row = tx.execute(
        select(SsoSession, SsoAccessToken.expires_at)
        .join(SsoAccessToken, SsoAccessToken.session_id == SsoSession.session_id)
        .where(SsoAccessToken.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return snapshot(SsoSessionRecord, row[0]), row[1]


def touch_session(tx: Tx, session_id: str, now: dt.datetime) -> None:
    tx.execute(update(SsoSession).where(SsoSession.session_id == session_id).values(last_used_at=now))


def revoke_session(tx: Tx, session_id: str, now: dt.datetime) -> bool:
    """False if it was revoked already."""
    live = (SsoSession.session_id == session_id, SsoSession.revoked_at.is_(None))
    return changed_one(tx, update(SsoSession).where(*live).values(revoked_at=now))


def revoke_sessions_from(tx: Tx, grant_ref: str, now: dt.datetime) -> int:
    """Revoke the live sessions a code or device code opened; how many there were."""
    result = tx.execute(
        update(SsoSession)
        .where(SsoSession.grant_ref == grant_ref, SsoSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def count_live_sessions(tx: Tx, now: dt.datetime) -> int:
    return tx.scalar(select(func.count()).where(SsoSession.revoked_at.is_(None), SsoSession.expires_at > now)) or 0


def purge_expired(tx: Tx, now: dt.datetime) -> None:
    # Used codes are kept an hour past expiry so that a replay is still recognised as one.
    grace = now - dt.timedelta(hours=1)
    tx.execute(delete(SsoAuthorization).where(SsoAuthorization.expires_at < grace))
    tx.execute(delete(SsoAccessToken).where(SsoAccessToken.expires_at < now))
    tx.execute(delete(SsoSession).where(SsoSession.expires_at < grace))
    tx.execute(delete(SsoClient).where(SsoClient.expires_at < now))


def live_sessions(tx: Tx, now: dt.datetime) -> list[SsoSessionRecord]:
    """Every SSO session neither revoked nor ended, oldest first (for `broker sessions`)."""
    rows = tx.scalars(
        select(SsoSession)
        .where(SsoSession.revoked_at.is_(None), SsoSession.expires_at > now)
        .order_by(SsoSession.created_at, SsoSession.session_id)
    )
    return [snapshot(SsoSessionRecord, row) for row in rows]
