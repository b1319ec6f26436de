"""SAML providers: the IdPs an account trusts, found by name or ARN, added, updated and deleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update

from broker.iam import entities
from broker.store import models
from broker.store.db import Tx
from broker.store.iam import _values as values
from broker.store.iam import rows
from broker.store.iam.rows import named


def _provider_by_name(tx: Tx, account_id: str, key: str) -> models.SamlProvider | None:
    return named(tx, models.SamlProvider, account_id, key)


def _provider_by_arn(tx: Tx, arn: str) -> models.SamlProvider | None:
    return tx.scalar(select(models.SamlProvider).where(models.SamlProvider.arn == arn))


def _list_providers(tx: Tx, account_id: str | None = None) -> list[models.SamlProvider]:
    query = select(models.SamlProvider).order_by(models.SamlProvider.account_id, models.SamlProvider.name_key)
    if account_id is not None:
        query = query.where(models.SamlProvider.account_id == account_id)
    return list(tx.scalars(query))


def saml_provider(tx: Tx, arn: str) -> entities.SamlProvider | None:
    row = _provider_by_arn(tx, arn)
    return values.saml_provider(row) if row is not None else None


def saml_provider_named(tx: Tx, account_id: str, key: str) -> entities.SamlProvider | None:
    row = _provider_by_name(tx, account_id, key)
    return values.saml_provider(row) if row is not None else None


def saml_providers(tx: Tx, account_id: str) -> list[entities.SamlProvider]:
    return [values.saml_provider(row) for row in _list_providers(tx, account_id)]


def saml_provider_names(tx: Tx) -> list[str]:
    """The name of every account's every provider (once each), without their documents."""
    query = select(models.SamlProvider.name).distinct().order_by(models.SamlProvider.name)
    return list(tx.scalars(query))


def count_saml_providers(tx: Tx, account_id: str) -> int:
    query = select(func.count()).select_from(models.SamlProvider)
    return tx.scalar(query.where(models.SamlProvider.account_id == account_id)) or 0


def add_saml_provider(
    tx: Tx, provider: entities.SamlProvider, *, entity_id: str, options: Mapping[str, Any], source: str
) -> bool:
    """Store a new provider; False if a concurrent request took its name."""
    row = models.SamlProvider(**values.columns(provider), entity_id=entity_id, options=dict(options), source=source)
    return rows.insert(tx, row)


def set_saml_metadata(tx: Tx, arn: str, *, metadata_xml: str, entity_id: str, valid_until: dt.datetime | None) -> None:
    tx.execute(
        update(models.SamlProvider)
        .where(models.SamlProvider.arn == arn)
        .values(metadata_xml=metadata_xml, entity_id=entity_id, valid_until=valid_until)
    )


def delete_saml_provider(tx: Tx, arn: str) -> bool:
    """False if the database refuses (a concurrent request still refers to it)."""
    return rows.execute(tx, delete(models.SamlProvider).where(models.SamlProvider.arn == arn))


# -- metadata fetched from a URL ---------------------------------------------------------------
# Fetch bookkeeping (claims, errors, times) is written on the connection, not through the ORM:
# no cache holds it, so it must not bump the cache generations; a new document does.


@dataclass(frozen=True, slots=True)
class MetadataSource:
    """A provider whose metadata is fetched from a URL, and the state of its fetches."""

    arn: str
    account_id: str
    name: str
    entity_id: str
    metadata_xml: str
    valid_until: dt.datetime | None
    options: dict[str, Any]
    metadata_url: str
    metadata_pin: str | None
    last_fetch_at: dt.datetime | None
    last_fetch_error: str | None
    next_fetch_at: dt.datetime | None
    fetch_failures: int


_P = models.SamlProvider
_TABLE = cast(Table, _P.__table__)
_SOURCES = select(
    _P.arn,
    _P.account_id,
    _P.name,
    _P.entity_id,
    _P.metadata_xml,
    _P.valid_until,
    _P.options,
    _P.metadata_url,
    _P.metadata_pin,
    _P.last_fetch_at,
    _P.last_fetch_error,
    _P.next_fetch_at,
    _P.fetch_failures,
).where(_P.metadata_url.is_not(None))


def metadata_sources(tx: Tx) -> list[MetadataSource]:
    """Every provider fetched from a URL, by account and name."""
    rows_ = tx.execute(_SOURCES.order_by(_P.account_id, _P.name_key))
    return [MetadataSource(**row._mapping) for row in rows_]


@dataclass(frozen=True, slots=True)
class MetadataState:
    """The state of a URL-fetched provider's fetches, as /readyz and /metrics report it: what
    :class:`MetadataSource` holds without the document and options (megabytes, for many IdPs)."""

    arn: str
    name: str
    valid_until: dt.datetime | None
    last_fetch_at: dt.datetime | None
    last_fetch_error: str | None


_STATES = select(_P.arn, _P.name, _P.valid_until, _P.last_fetch_at, _P.last_fetch_error).where(
    _P.metadata_url.is_not(None)
)


def metadata_states(tx: Tx) -> list[MetadataState]:
    """Every provider fetched from a URL, by account and name: names and fetch state only."""
    rows_ = tx.execute(_STATES.order_by(_P.account_id, _P.name_key))
    return [MetadataState(**row._mapping) for row in rows_]


def metadata_source(tx: Tx, arn: str) -> MetadataSource | None:
    row = tx.execute(_SOURCES.where(_P.arn == arn)).first()
    return MetadataSource(**row._mapping) if row is not None else None


def due_metadata_fetches(tx: Tx, now: dt.datetime) -> list[str]:
    """The ARNs of the providers whose next fetch is due."""
    due = _P.metadata_url.is_not(None) & (_P.next_fetch_at.is_(None) | (_P.next_fetch_at <= now))
    return list(tx.scalars(select(_P.arn).where(due).order_by(_P.arn)))


def claim_metadata_fetch(tx: Tx, arn: str, now: dt.datetime, lease_until: dt.datetime) -> bool:
    """Take the due fetch of ``arn`` until ``lease_until``; False if another process took it first."""
    statement = (
        update(_TABLE)
        .where(_P.arn == arn, _P.metadata_url.is_not(None), _P.next_fetch_at.is_(None) | (_P.next_fetch_at <= now))
        .values(next_fetch_at=lease_until)
    )
    return tx.connection().execute(statement).rowcount == 1


def set_metadata_source(
    tx: Tx, arn: str, *, url: str | None, pin: str | None, next_fetch_at: dt.datetime | None
) -> None:
    """Where the metadata of ``arn`` is fetched from (``url`` None: it no longer is)."""
    tx.connection().execute(
        update(_TABLE)
        .where(_P.arn == arn)
        .values(metadata_url=url, metadata_pin=pin, next_fetch_at=next_fetch_at, fetch_failures=0)
    )


def record_metadata_fetched(tx: Tx, arn: str, *, fetched_at: dt.datetime, next_fetch_at: dt.datetime) -> None:
    """A fetch succeeded (whether or not the document changed)."""
    tx.connection().execute(
        update(_TABLE)
        .where(_P.arn == arn)
        .values(last_fetch_at=fetched_at, last_fetch_error=None, next_fetch_at=next_fetch_at, fetch_failures=0)
    )


def record_metadata_fetch_failed(tx: Tx, arn: str, *, error: str, failures: int, next_fetch_at: dt.datetime) -> None:
    """A fetch failed: the last good metadata stays; the error and the retry time are kept."""
    tx.connection().execute(
        update(_TABLE)
        .where(_P.arn == arn)
        .values(last_fetch_error=error[:1000], fetch_failures=failures, next_fetch_at=next_fetch_at)
    )


def saml_options(tx: Tx, arn: str) -> dict[str, Any]:
    """The per-provider options of ``arn`` (empty if there is no such provider)."""
    options = tx.scalar(select(_P.options).where(_P.arn == arn))
    return dict(options or {})


def set_saml_options(tx: Tx, arn: str, options: Mapping[str, Any]) -> None:
    """Replace the per-provider options (through the ORM: the ACS caches them)."""
    tx.execute(update(models.SamlProvider).where(models.SamlProvider.arn == arn).values(options=dict(options)))
