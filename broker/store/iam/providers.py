"""SAML providers: the IdPs an account trusts, found by name, ARN or the IdP's entity id."""

from __future__ import annotations

from sqlalchemy import select

from broker.store import models
from broker.store.db import Tx
from broker.store.iam.rows import named


def provider_by_name(tx: Tx, account_id: str, name_key: str) -> models.SamlProvider | None:
    return named(tx, models.SamlProvider, account_id, name_key)


def provider_by_arn(tx: Tx, arn: str) -> models.SamlProvider | None:
    return tx.scalar(select(models.SamlProvider).where(models.SamlProvider.arn == arn))


def providers_by_entity_id(tx: Tx, entity_id: str) -> list[models.SamlProvider]:
    """Every account's registration of one IdP."""
    return list(
        tx.scalars(
            select(models.SamlProvider)
            .where(models.SamlProvider.entity_id == entity_id)
            .order_by(models.SamlProvider.account_id, models.SamlProvider.name_key)
        )
    )


def list_providers(tx: Tx, account_id: str | None = None) -> list[models.SamlProvider]:
    query = select(models.SamlProvider).order_by(models.SamlProvider.account_id, models.SamlProvider.name_key)
    if account_id is not None:
        query = query.where(models.SamlProvider.account_id == account_id)
    return list(tx.scalars(query))
