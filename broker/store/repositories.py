"""Queries the services use; each takes the caller's transaction so a use case stays one transaction.

The IAM entities' queries live in :mod:`broker.store.iam`, one module per kind of entity; their
names are importable from here too, where sign-in, STS and set-up were written against them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.store import models
from broker.store.iam.accounts import account_by_alias, ensure_account, get_account
from broker.store.iam.credentials import (
    access_key,
    mfa_device,
    mfa_device_by_name,
    mfa_devices_of_account,
    mfa_devices_of_user,
    use_mfa_step,
)
from broker.store.iam.policies import (
    attachment_counts,
    boundary_counts,
    entities_attached_to,
    entities_bounded_by,
    is_attached_anywhere,
    list_policies,
    policies_by_arns,
    policy_by_arn,
    policy_by_name,
)
from broker.store.iam.principals import (
    group_by_name,
    list_groups,
    list_roles,
    list_users,
    role_by_arn,
    role_by_name,
    role_with_policies,
    roles_trusting,
    user_by_arn,
    user_by_name,
    user_by_user_id,
    user_with_policies,
)
from broker.store.iam.providers import list_providers, provider_by_arn, provider_by_name, providers_by_entity_id

__all__ = [
    "access_key",
    "account_by_alias",
    "add_device_authorization",
    "add_saml_request",
    "attachment_counts",
    "boundary_counts",
    "cli_authorization",
    "cli_authorization_by_code",
    "cli_session",
    "consume_cli_code",
    "consume_device_authorization",
    "consume_saml_request",
    "count_cli_sessions",
    "device_authorization",
    "device_authorization_by_user_code",
    "ensure_account",
    "entities_attached_to",
    "entities_bounded_by",
    "get_account",
    "group_by_name",
    "is_attached_anywhere",
    "list_groups",
    "list_policies",
    "list_providers",
    "list_roles",
    "list_users",
    "mfa_device",
    "mfa_device_by_name",
    "mfa_devices_of_account",
    "mfa_devices_of_user",
    "policies_by_arns",
    "policy_by_arn",
    "policy_by_name",
    "provider_by_arn",
    "provider_by_name",
    "providers_by_entity_id",
    "purge_cli_expired",
    "purge_expired",
    "remember_assertion",
    "revoke_cli_sessions_from",
    "role_by_arn",
    "role_by_name",
    "role_with_policies",
    "roles_trusting",
    "saml_request",
    "use_mfa_step",
    "user_by_arn",
    "user_by_name",
    "user_by_user_id",
    "user_with_policies",
    "web_session",
]


# --- SAML protocol state ----------------------------------------------------------------------


def add_saml_request(session: Session, request: models.SamlRequest) -> None:
    session.add(request)
    session.flush()


def consume_saml_request(session: Session, request_id: str, now: dt.datetime) -> models.SamlRequest | None:
    """Mark an outstanding request answered, atomically: of two racing consumers one wins."""
    result = session.execute(
        update(models.SamlRequest)
        .where(
            models.SamlRequest.request_id == request_id,
            models.SamlRequest.consumed_at.is_(None),
            models.SamlRequest.expires_at > now,
        )
        .values(consumed_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(models.SamlRequest, request_id)


def saml_request(session: Session, request_id: str) -> models.SamlRequest | None:
    return session.get(models.SamlRequest, request_id)


def remember_assertion(session: Session, issuer: str, assertion_id: str, expires_at: dt.datetime) -> bool:
    """Record an assertion ID; False if any process recorded it before (a replay)."""
    try:
        with session.begin_nested():
            session.add(models.SeenAssertion(issuer=issuer, assertion_id=assertion_id, expires_at=expires_at))
            session.flush()
    except IntegrityError:
        return False
    return True


def purge_expired(session: Session, now: dt.datetime) -> None:
    session.execute(delete(models.SeenAssertion).where(models.SeenAssertion.expires_at < now))
    session.execute(delete(models.SamlRequest).where(models.SamlRequest.expires_at < now - dt.timedelta(days=1)))
    session.execute(delete(models.WebSession).where(models.WebSession.expires_at < now))


def web_session(session: Session, id_hash: str, now: dt.datetime) -> models.WebSession | None:
    found = session.get(models.WebSession, id_hash)
    if found is None or found.expires_at <= now:
        return None
    return found


# --- CLI sign-in ------------------------------------------------------------------------------


def cli_authorization(session: Session, request_hash: str) -> models.CliAuthorization | None:
    return session.get(models.CliAuthorization, request_hash)


def cli_authorization_by_code(session: Session, code_hash: str) -> models.CliAuthorization | None:
    return session.scalar(select(models.CliAuthorization).where(models.CliAuthorization.code_hash == code_hash))


def consume_cli_code(session: Session, code_hash: str, now: dt.datetime) -> bool:
    """Mark a code used, atomically: of two racing exchanges exactly one gets True."""
    result = session.execute(
        update(models.CliAuthorization)
        .where(models.CliAuthorization.code_hash == code_hash, models.CliAuthorization.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def device_authorization(session: Session, device_code_hash: str) -> models.DeviceAuthorization | None:
    return session.get(models.DeviceAuthorization, device_code_hash)


def device_authorization_by_user_code(session: Session, user_code: str) -> models.DeviceAuthorization | None:
    return session.scalar(select(models.DeviceAuthorization).where(models.DeviceAuthorization.user_code == user_code))


def add_device_authorization(session: Session, device: models.DeviceAuthorization) -> bool:
    """Insert; False if the user code is taken (the caller draws another)."""
    try:
        with session.begin_nested():
            session.add(device)
            session.flush()
    except IntegrityError:
        return False
    return True


def consume_device_authorization(session: Session, device_code_hash: str, now: dt.datetime) -> bool:
    """Approved -> consumed, atomically: of two racing polls exactly one gets True."""
    result = session.execute(
        update(models.DeviceAuthorization)
        .where(
            models.DeviceAuthorization.device_code_hash == device_code_hash,
            models.DeviceAuthorization.status == "approved",
        )
        .values(status="consumed", consumed_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def count_cli_sessions(session: Session, web_session_hash: str, now: dt.datetime) -> int:
    """Live CLI sessions that hang on a web session."""
    return (
        session.scalar(
            select(func.count()).where(
                models.CliSession.web_session_hash == web_session_hash,
                models.CliSession.revoked_at.is_(None),
                models.CliSession.expires_at > now,
            )
        )
        or 0
    )


def cli_session(session: Session, handle_hash: str) -> models.CliSession | None:
    return session.get(models.CliSession, handle_hash)


def revoke_cli_sessions_from(session: Session, grant_ref: str, now: dt.datetime) -> int:
    result = session.execute(
        update(models.CliSession)
        .where(models.CliSession.grant_ref == grant_ref, models.CliSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_cli_expired(session: Session, now: dt.datetime) -> None:
    # Used codes are kept an hour past expiry so that a replay is still recognised as one.
    grace = now - dt.timedelta(hours=1)
    session.execute(delete(models.CliAuthorization).where(models.CliAuthorization.expires_at < grace))
    session.execute(delete(models.DeviceAuthorization).where(models.DeviceAuthorization.expires_at < grace))
    session.execute(delete(models.CliSession).where(models.CliSession.expires_at < now))
