"""Queries the services use; each takes the caller's Session so a use case stays one transaction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.store import models


def get_account(session: Session, account_id: str) -> models.Account | None:
    return session.get(models.Account, account_id)


def ensure_account(
    session: Session, account_id: str, alias: str | None = None, now: dt.datetime | None = None
) -> models.Account:
    account = session.get(models.Account, account_id)
    if account is None:
        account = models.Account(id=account_id, alias=alias or None, created_at=now or dt.datetime.now(dt.UTC))
        session.add(account)
        session.flush()
    return account


# --- SAML providers ---------------------------------------------------------------------------


def provider_by_name(session: Session, account_id: str, name_key: str) -> models.SamlProvider | None:
    return session.scalar(
        select(models.SamlProvider).where(
            models.SamlProvider.account_id == account_id, models.SamlProvider.name_key == name_key
        )
    )


def provider_by_arn(session: Session, arn: str) -> models.SamlProvider | None:
    return session.scalar(select(models.SamlProvider).where(models.SamlProvider.arn == arn))


def providers_by_entity_id(session: Session, entity_id: str) -> list[models.SamlProvider]:
    return list(session.scalars(select(models.SamlProvider).where(models.SamlProvider.entity_id == entity_id)))


def list_providers(session: Session, account_id: str | None = None) -> list[models.SamlProvider]:
    query = select(models.SamlProvider).order_by(models.SamlProvider.account_id, models.SamlProvider.name_key)
    if account_id is not None:
        query = query.where(models.SamlProvider.account_id == account_id)
    return list(session.scalars(query))


# --- roles ------------------------------------------------------------------------------------


def role_by_name(session: Session, account_id: str, name_key: str) -> models.Role | None:
    return session.scalar(
        select(models.Role).where(models.Role.account_id == account_id, models.Role.name_key == name_key)
    )


def role_by_arn(session: Session, arn: str) -> models.Role | None:
    return session.scalar(select(models.Role).where(models.Role.arn == arn))


def list_roles(session: Session, account_id: str | None = None, path_prefix: str = "/") -> list[models.Role]:
    query = select(models.Role).order_by(models.Role.account_id, models.Role.name_key)
    if account_id is not None:
        query = query.where(models.Role.account_id == account_id)
    if path_prefix != "/":
        query = query.where(models.Role.path.startswith(path_prefix, autoescape=True))
    return list(session.scalars(query))


def roles_trusting(session: Session, provider_arn: str) -> list[models.Role]:
    """Candidate roles for a federated sign-in: those whose trust policy names the provider.

    A cheap pre-filter on the document text; the policy engine decides. Candidates name the
    provider, name any federated principal, or use a wildcard (``"Principal": "*"``,
    ``NotPrincipal``), which is where a federated sign-in could also be admitted.
    """
    query = (
        select(models.Role)
        .where(
            models.Role.trust_policy.contains(provider_arn, autoescape=True)
            | models.Role.trust_policy.contains("Federated", autoescape=True)
            | models.Role.trust_policy.contains("*", autoescape=True)
            | models.Role.trust_policy.contains("NotPrincipal", autoescape=True)
        )
        .order_by(models.Role.account_id, models.Role.name_key)
    )
    return list(session.scalars(query))


# --- users and access keys ------------------------------------------------------------------


def user_by_name(session: Session, account_id: str, name_key: str) -> models.User | None:
    return session.scalar(
        select(models.User).where(models.User.account_id == account_id, models.User.name_key == name_key)
    )


def access_key(session: Session, access_key_id: str) -> models.AccessKey | None:
    return session.get(models.AccessKey, access_key_id)


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
