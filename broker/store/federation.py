"""The browser sign-in's state and the IAM facts it reads: providers, trusting roles, AuthnRequests,
the replay guard and web sessions.

Each read returns a frozen record (a snapshot: re-read after a write); every change is a function
here, so the services never hold a row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, Update, delete, select, update
from sqlalchemy.exc import IntegrityError

from broker.store import models
from broker.store._snapshot import snapshot
from broker.store.db import Tx

R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class Expiring:
    """Sign-in state lives from ``created_at`` until ``expires_at``, and is purged some time after."""

    created_at: dt.datetime
    expires_at: dt.datetime


def changed_one(tx: Tx, statement: Update) -> bool:
    """Run a guarded UPDATE; True if it changed exactly one row (of racing callers, the winner)."""
    return tx.execute(statement).rowcount == 1  # type: ignore[attr-defined, no-any-return]


# --- what the sign-in reads of IAM ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderRecord:
    """A SAML provider registration, with the per-provider SAML options the ACS applies."""

    account_id: str
    name: str
    name_key: str
    arn: str
    metadata_xml: str
    valid_until: dt.datetime | None
    options: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustingRole:
    """A role as a sign-in needs it: whether its trust policy admits the sign-in, and what to offer."""

    account_id: str
    account_alias: str | None
    role_id: str
    name: str
    arn: str
    description: str
    trust_policy: str
    max_session_duration: int


def _providers(tx: Tx, query: Select[models.SamlProvider]) -> list[ProviderRecord]:
    ordered = query.order_by(models.SamlProvider.account_id, models.SamlProvider.name_key)
    return [snapshot(ProviderRecord, row) for row in tx.scalars(ordered)]


def provider_by_arn(tx: Tx, arn: str) -> ProviderRecord | None:
    return snapshot(ProviderRecord, tx.scalar(select(models.SamlProvider).where(models.SamlProvider.arn == arn)))


def provider_by_name(tx: Tx, account_id: str, name_key: str) -> ProviderRecord | None:
    found = select(models.SamlProvider).where(
        models.SamlProvider.account_id == account_id, models.SamlProvider.name_key == name_key
    )
    return snapshot(ProviderRecord, tx.scalar(found))


def list_providers(tx: Tx) -> list[ProviderRecord]:
    """Every account's registrations, by account and name."""
    return _providers(tx, select(models.SamlProvider))


def providers_by_entity_id(tx: Tx, entity_id: str) -> list[ProviderRecord]:
    """Every account's registration of one IdP."""
    return _providers(tx, select(models.SamlProvider).where(models.SamlProvider.entity_id == entity_id))


def _trusting_roles() -> Select[models.Role, str | None]:
    # The alias comes with the role (outer join): one statement for every role offered.
    return select(models.Role, models.Account.alias).outerjoin(
        models.Account, models.Account.id == models.Role.account_id
    )


def roles_trusting(tx: Tx, provider_arn: str) -> list[TrustingRole]:
    """Candidate roles for a federated sign-in: those whose trust policy names the provider.

    A cheap pre-filter on the document text; the policy engine decides. Candidates name the
    provider, name any federated principal, or use a wildcard (``"Principal": "*"``,
    ``NotPrincipal``), which is where a federated sign-in could also be admitted.
    """
    document = models.Role.trust_policy
    query = (
        _trusting_roles()
        .where(
            document.contains(provider_arn, autoescape=True)
            | document.contains("Federated", autoescape=True)
            | document.contains("*", autoescape=True)
            | document.contains("NotPrincipal", autoescape=True)
        )
        .order_by(models.Role.account_id, models.Role.name_key)
    )
    return [snapshot(TrustingRole, role, account_alias=alias) for role, alias in tx.execute(query)]


def trusting_role(tx: Tx, arn: str) -> TrustingRole | None:
    """The role a sign-in asks for by ARN, to decide its trust policy again."""
    found = tx.execute(_trusting_roles().where(models.Role.arn == arn)).first()
    return snapshot(TrustingRole, found[0], account_alias=found[1]) if found is not None else None


def mark_role_used(tx: Tx, role_id: str, now: dt.datetime, region: str) -> None:
    """IAM's ``RoleLastUsed``: when and in which region the role last issued a session."""
    tx.execute(
        update(models.Role).where(models.Role.role_id == role_id).values(last_used_at=now, last_used_region=region)
    )


# --- SAML protocol state ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SamlRequestRecord(Expiring):
    """An AuthnRequest this broker sent; ``browser_binding`` is the SHA-256 of the browser's cookie."""

    request_id: str
    provider_arn: str
    browser_binding: str
    relay_state: str | None
    consumed_at: dt.datetime | None = None


def add_saml_request(tx: Tx, request: SamlRequestRecord) -> None:
    tx.add(models.SamlRequest(**asdict(request)))
    tx.flush()


def saml_request(tx: Tx, request_id: str) -> SamlRequestRecord | None:
    return snapshot(SamlRequestRecord, tx.get(models.SamlRequest, request_id))


def consume_saml_request(tx: Tx, request_id: str, now: dt.datetime) -> SamlRequestRecord | None:
    """Mark an outstanding request answered, atomically: of two racing consumers one wins."""
    request = models.SamlRequest
    unanswered = (request.request_id == request_id, request.consumed_at.is_(None), request.expires_at > now)
    if not changed_one(tx, update(request).where(*unanswered).values(consumed_at=now)):
        return None
    return saml_request(tx, request_id)


def remember_assertion(tx: Tx, issuer: str, assertion_id: str, expires_at: dt.datetime) -> bool:
    """Record an assertion ID; False if any process recorded it before (a replay)."""
    try:
        with tx.begin_nested():
            tx.add(models.SeenAssertion(issuer=issuer, assertion_id=assertion_id, expires_at=expires_at))
            tx.flush()
    except IntegrityError:
        return False
    return True


def purge_expired(tx: Tx, now: dt.datetime) -> None:
    """Expired replay records and web sessions; requests a day after they expired."""
    tx.execute(delete(models.SeenAssertion).where(models.SeenAssertion.expires_at < now))
    tx.execute(delete(models.SamlRequest).where(models.SamlRequest.expires_at < now - dt.timedelta(days=1)))
    tx.execute(delete(models.WebSession).where(models.WebSession.expires_at < now))


# --- web sessions -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WebSessionRecord(Expiring):
    """A signed-in browser, by the SHA-256 of its cookie; ``assertion`` is what the sign-in established."""

    id_hash: str
    provider_arn: str
    subject: str
    assertion: dict[str, Any]
    csrf_token: str
    expires_at: dt.datetime


def add_web_session(tx: Tx, web: WebSessionRecord) -> None:
    """Keep a browser's sign-in server-side (new web sessions have a random id: no conflict to handle)."""
    tx.add(models.WebSession(**asdict(web)))


def web_session(tx: Tx, id_hash: str, now: dt.datetime) -> WebSessionRecord | None:
    """The web session, while it lasts."""
    row = tx.get(models.WebSession, id_hash)
    if row is None or row.expires_at <= now:
        return None
    return snapshot(WebSessionRecord, row)


def delete_web_session(tx: Tx, id_hash: str) -> None:
    """End a browser's sign-in; its CLI sessions go with it (ON DELETE CASCADE)."""
    tx.execute(delete(models.WebSession).where(models.WebSession.id_hash == id_hash))
