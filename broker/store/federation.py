"""The browser sign-in's state and the IAM facts it reads: providers, trusting roles, AuthnRequests,
the replay guard and web sessions.

Each read returns a frozen record (a snapshot: re-read after a write); every change is a function
here, so the services never hold a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, Update, delete, select, update
from sqlalchemy.exc import IntegrityError

from broker.store import models, trust_index
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


# What a sign-in reads of a role: the columns of TrustingRole, and the account's alias (outer join).
_TRUSTING_COLUMNS = (
    models.Role.account_id,
    models.Account.alias,
    models.Role.role_id,
    models.Role.name,
    models.Role.arn,
    models.Role.description,
    models.Role.trust_policy,
    models.Role.max_session_duration,
    models.Role.name_key,
)
_TRUSTING_ROLES = select(*_TRUSTING_COLUMNS).outerjoin(models.Account, models.Account.id == models.Role.account_id)
# SQLite allows 32766 bound parameters a statement (999 before 3.32); PostgreSQL 65535.
_ARNS_PER_STATEMENT = 500


def _trusting_role(row: Any) -> TrustingRole:
    return TrustingRole(
        account_id=row.account_id,
        account_alias=row.alias,
        role_id=row.role_id,
        name=row.name,
        arn=row.arn,
        description=row.description,
        trust_policy=row.trust_policy,
        max_session_duration=row.max_session_duration,
    )


def roles_trusting(tx: Tx, provider_arn: str, role_arns: Collection[str] | None = None) -> list[TrustingRole]:
    """Candidate roles for a federated sign-in through ``provider_arn``, by account and name.

    The roles the trusted-principal index (:mod:`broker.store.trust_index`) lists under the
    provider or under ``*``: a superset of those whose trust policy admits the sign-in, and the
    policy engine decides. ``role_arns`` (the roles the IdP's Role attribute lists for this
    provider) narrows them further; the statements read no other role, however many exist.
    """
    index = models.RoleTrustedPrincipal
    trusting = select(index.role_pk).where(index.principal.in_((provider_arn, trust_index.ANYONE)))
    query = _TRUSTING_ROLES.where(models.Role.id.in_(trusting))
    if role_arns is None:
        found = tx.execute(query).all()
    else:
        listed = sorted(set(role_arns))
        found = [
            row
            for start in range(0, len(listed), _ARNS_PER_STATEMENT)
            for row in tx.execute(query.where(models.Role.arn.in_(listed[start : start + _ARNS_PER_STATEMENT])))
        ]
    return [_trusting_role(row) for row in sorted(found, key=lambda row: (row.account_id, row.name_key))]


def trusting_role(tx: Tx, arn: str) -> TrustingRole | None:
    """The role a sign-in asks for by ARN, to decide its trust policy again."""
    found = tx.execute(_TRUSTING_ROLES.where(models.Role.arn == arn)).first()
    return _trusting_role(found) if found is not None else None


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
