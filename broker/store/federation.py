"""The browser sign-in's state and the IAM facts it reads: providers, trusting roles, AuthnRequests,
the replay guard and web sessions.

Each read returns a frozen record (a snapshot: re-read after a write); every change is a function
here, so the services never hold a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Select, Table, Update, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from broker.store import models, trust_index
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


def _core(tx: Tx) -> Connection:
    """The transaction's connection, for the statements of a sign-in's request path: Core statements
    built once skip the ORM's per-statement work (building and keying the statement, the identity
    map, the unit of work). Pending ORM changes are flushed first, as autoflush would, so a read sees them."""
    tx.flush()
    return tx.connection()


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
    # The account's name as Organizations knows it (CreateAccount); None when it has none.
    account_name: str | None = None


# The columns of ProviderRecord: a sign-in reads values, so no ORM instance is built for it.
_PROVIDER = models.SamlProvider
# A provider registered in a closed (SUSPENDED) account signs no one in, as the account's roles
# are assumed by no one (see _TRUSTING_ROLES): sign-in reads providers through this query only.
_PROVIDERS = (
    select(
        _PROVIDER.account_id,
        _PROVIDER.name,
        _PROVIDER.name_key,
        _PROVIDER.arn,
        _PROVIDER.metadata_xml,
        _PROVIDER.valid_until,
        _PROVIDER.options,
    )
    .outerjoin(models.Account, models.Account.id == _PROVIDER.account_id)
    .where(models.Account.closed_at.is_(None))
)


def _provider(row: Any) -> ProviderRecord:
    return ProviderRecord(**row._mapping)


def _providers(tx: Tx, query: Select[Any]) -> list[ProviderRecord]:
    ordered = query.order_by(_PROVIDER.account_id, _PROVIDER.name_key)
    return [_provider(row) for row in tx.execute(ordered)]


def _one_provider(tx: Tx, query: Select[Any]) -> ProviderRecord | None:
    row = tx.execute(query).first()
    return _provider(row) if row is not None else None


def provider_by_arn(tx: Tx, arn: str) -> ProviderRecord | None:
    return _one_provider(tx, _PROVIDERS.where(_PROVIDER.arn == arn))


def provider_by_name(tx: Tx, account_id: str, name_key: str) -> ProviderRecord | None:
    return _one_provider(tx, _PROVIDERS.where(_PROVIDER.account_id == account_id, _PROVIDER.name_key == name_key))


def list_providers(tx: Tx) -> list[ProviderRecord]:
    """Every account's registrations, by account and name."""
    return _providers(tx, _PROVIDERS)


def providers_by_entity_id(tx: Tx, entity_id: str) -> list[ProviderRecord]:
    """Every account's registration of one IdP."""
    return _providers(tx, _PROVIDERS.where(_PROVIDER.entity_id == entity_id))


def provider_entity_ids(tx: Tx) -> set[str]:  # every registration's, a closed account's included
    """The IdPs some account registers, by entity ID (what a response's issuer is checked against first)."""
    return set(tx.scalars(select(_PROVIDER.entity_id).distinct()))


# What a sign-in reads of a role: the columns of TrustingRole, and the account's alias and name
# (outer join: one statement however many accounts the roles are in). A closed (SUSPENDED)
# account's roles are left out here, in the one query every sign-in, portal listing and issuance
# reads roles through: none is offered, and none is issued credentials.
_TRUSTING_COLUMNS = (
    models.Role.account_id,
    models.Account.alias,
    models.Account.name.label("account_name"),
    models.Role.role_id,
    models.Role.name,
    models.Role.arn,
    models.Role.description,
    models.Role.trust_policy,
    models.Role.max_session_duration,
    models.Role.name_key,
)
_TRUSTING_ROLES = (
    select(*_TRUSTING_COLUMNS)
    .outerjoin(models.Account, models.Account.id == models.Role.account_id)
    .where(models.Account.closed_at.is_(None))
)
# Built once, values bound per call: building a statement (and its cache key) cost more than running it.
_INDEXED = models.RoleTrustedPrincipal
_TRUSTING_PROVIDER = _TRUSTING_ROLES.where(
    models.Role.id.in_(
        select(_INDEXED.role_pk).where(_INDEXED.principal.in_((bindparam("provider"), trust_index.ANYONE)))
    )
)
_TRUSTING_LISTED = _TRUSTING_PROVIDER.where(models.Role.arn.in_(bindparam("arns", expanding=True)))
_TRUSTING_ARN = _TRUSTING_ROLES.where(models.Role.arn == bindparam("arn"))
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
        # A name that only repeats the id (as some set-ups write it) says nothing more.
        account_name=row.account_name if row.account_name and row.account_name != row.account_id else None,
    )


def roles_trusting(tx: Tx, provider_arn: str, role_arns: Collection[str] | None = None) -> list[TrustingRole]:
    """Candidate roles for a federated sign-in through ``provider_arn``, by account and name.

    The roles the trusted-principal index (:mod:`broker.store.trust_index`) lists under the
    provider or under ``*``, in accounts that are not closed: a superset of those whose trust
    policy admits the sign-in, and the policy engine decides. ``role_arns`` (the roles the IdP's
    Role attribute lists for this provider) narrows them further; the statements read no other
    role, however many exist.
    """
    connection = _core(tx)
    if role_arns is None:
        found = connection.execute(_TRUSTING_PROVIDER, {"provider": provider_arn}).all()
    else:
        listed = sorted(set(role_arns))
        found = [
            row
            for start in range(0, len(listed), _ARNS_PER_STATEMENT)
            for row in connection.execute(
                _TRUSTING_LISTED, {"provider": provider_arn, "arns": listed[start : start + _ARNS_PER_STATEMENT]}
            )
        ]
    return [_trusting_role(row) for row in sorted(found, key=lambda row: (row.account_id, row.name_key))]


def closed_accounts(tx: Tx, account_ids: Collection[str]) -> set[str]:
    """Which of ``account_ids`` are closed (Organizations' CloseAccount: SUSPENDED)."""
    if not account_ids:
        return set()
    return set(_core(tx).execute(_CLOSED, {"ids": sorted(account_ids)}).scalars())


# Built once: a role page view runs it.
_CLOSED = select(models.Account.id).where(
    models.Account.id.in_(bindparam("ids", expanding=True)), models.Account.closed_at.is_not(None)
)


def trusting_role(tx: Tx, arn: str) -> TrustingRole | None:
    """The role a sign-in asks for by ARN, to decide its trust policy again; None if it is gone or
    its account is closed."""
    found = _core(tx).execute(_TRUSTING_ARN, {"arn": arn}).first()
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


_REQUESTS = cast(Table, models.SamlRequest.__table__)
_ADD_REQUEST = insert(_REQUESTS)
_REQUEST = select(_REQUESTS).where(_REQUESTS.c.request_id == bindparam("request_id"))
_ANSWER_REQUEST = (
    update(_REQUESTS)
    .where(
        _REQUESTS.c.request_id == bindparam("answered_id"),
        _REQUESTS.c.consumed_at.is_(None),
        _REQUESTS.c.expires_at > bindparam("now"),
    )
    .values(consumed_at=bindparam("answered_at"))
)
_SEEN = cast(Table, models.SeenAssertion.__table__)
# The replay guard's insert, per dialect; both spell ON CONFLICT DO NOTHING alike.
_REMEMBER = {
    dialect.__name__.rpartition(".")[2]: dialect.insert(_SEEN).on_conflict_do_nothing().returning(_SEEN.c.assertion_id)
    for dialect in (postgresql, sqlite)
}


def add_saml_request(tx: Tx, request: SamlRequestRecord) -> None:
    _core(tx).execute(_ADD_REQUEST, asdict(request))


def saml_request(tx: Tx, request_id: str) -> SamlRequestRecord | None:
    row = _core(tx).execute(_REQUEST, {"request_id": request_id}).first()
    return SamlRequestRecord(**row._mapping) if row is not None else None


def answer_saml_request(tx: Tx, request_id: str, now: dt.datetime) -> bool:
    """Mark an outstanding request answered, atomically: of two racing consumers one wins (True)."""
    changed = _core(tx).execute(_ANSWER_REQUEST, {"answered_id": request_id, "now": now, "answered_at": now})
    return changed.rowcount == 1


def consume_saml_request(tx: Tx, request_id: str, now: dt.datetime) -> SamlRequestRecord | None:
    """:func:`answer_saml_request`, and the request as answered (None if this caller did not win)."""
    return saml_request(tx, request_id) if answer_saml_request(tx, request_id, now) else None


def remember_assertion(tx: Tx, issuer: str, assertion_id: str, expires_at: dt.datetime) -> bool:
    """Record an assertion ID; False if any process recorded it before (a replay).

    One ``INSERT ... ON CONFLICT DO NOTHING``: a racing insert of the same ID waits for the
    other to commit, then inserts nothing (and returns no row).
    """
    connection = _core(tx)
    values = {"issuer": issuer, "assertion_id": assertion_id, "expires_at": expires_at}
    return connection.execute(_REMEMBER[connection.dialect.name], values).first() is not None


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


_WEB_SESSION_FIELDS = tuple(f.name for f in fields(WebSessionRecord))
_WEB_SESSIONS = cast(Table, models.WebSession.__table__)
_ADD_WEB_SESSION = insert(_WEB_SESSIONS)
_WEB_SESSION = select(_WEB_SESSIONS).where(_WEB_SESSIONS.c.id_hash == bindparam("id_hash"))


def add_web_session(tx: Tx, web: WebSessionRecord) -> None:
    """Keep a browser's sign-in server-side (new web sessions have a random id: no conflict to handle)."""
    # Field by field: asdict() would deep-copy the sign-in, which is only serialized here.
    _core(tx).execute(_ADD_WEB_SESSION, {name: getattr(web, name) for name in _WEB_SESSION_FIELDS})


def web_session(tx: Tx, id_hash: str, now: dt.datetime) -> WebSessionRecord | None:
    """The web session, while it lasts."""
    row = _core(tx).execute(_WEB_SESSION, {"id_hash": id_hash}).first()
    if row is None or row.expires_at <= now:
        return None
    return WebSessionRecord(**row._mapping)


def live_web_sessions(tx: Tx, now: dt.datetime) -> list[tuple[WebSessionRecord, dt.datetime]]:
    """Every browser sign-in that has not ended, with when it began, oldest first (for `broker sessions`)."""
    rows = _core(tx).execute(
        select(_WEB_SESSIONS)
        .where(_WEB_SESSIONS.c.expires_at > now)
        .order_by(_WEB_SESSIONS.c.created_at, _WEB_SESSIONS.c.id_hash)
    )
    return [
        (WebSessionRecord(**{name: row._mapping[name] for name in _WEB_SESSION_FIELDS}), row.created_at) for row in rows
    ]


def delete_web_session(tx: Tx, id_hash: str) -> None:
    """End a browser's sign-in; its CLI sessions go with it (ON DELETE CASCADE)."""
    tx.execute(delete(models.WebSession).where(models.WebSession.id_hash == id_hash))
