"""SAML providers: the IdPs an account trusts, found by name or ARN, added, updated and deleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select, update

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
