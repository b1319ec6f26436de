"""SAML identity providers (federation reads them; the IAM API manages them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.entities import SamlProvider
from broker.iam.errors import AwsError
from broker.iam.names import (
    constraint_violation,
    length_violations,
    name_key,
    validate_saml_provider_name,
    validate_tags,
    validation_error,
)
from broker.saml.errors import MetadataError
from broker.saml.metadata import parse_idp_metadata
from broker.services.iam._common import QuotaOwner, check_quota, written_or_conflict
from broker.store import Tx
from broker.store.iam import providers as provider_store

# The provider option holding the signing certificates a metadata refresh dropped, each trusted
# until its grace period ends (broker.services.federation.metadata_refresh).
ROLLOVER_CERTS = "rollover_certs"


def _check_metadata_length(metadata_xml: str | None) -> str:
    if metadata_xml is None:
        raise validation_error([constraint_violation(None, "sAMLMetadataDocument", "must not be null")])
    violations = length_violations(
        metadata_xml, "sAMLMetadataDocument", limits.SAML_METADATA_MIN, limits.SAML_METADATA_MAX
    )
    if violations:
        raise validation_error(violations)
    return metadata_xml


def create_saml_provider(
    tx: Tx,
    account_id: str,
    name: str,
    metadata_xml: str,
    tags: list[tuple[str, str]] | None,
    now: dt.datetime,
    source: str = "api",
    options: dict[str, Any] | None = None,
) -> SamlProvider:
    validate_saml_provider_name(name)
    _check_metadata_length(metadata_xml)
    try:
        metadata = parse_idp_metadata(metadata_xml)
    except MetadataError as exc:
        raise AwsError("InvalidInput", f"Could not parse metadata: {exc}") from None
    tag_map = validate_tags(tags or [])
    message = f"SAMLProvider {name} already exists."
    if provider_store.saml_provider_named(tx, account_id, name_key(name)) is not None:
        raise AwsError("EntityAlreadyExists", message)
    check_quota(
        tx,
        QuotaOwner.account(account_id),
        lambda: provider_store.count_saml_providers(tx, account_id),
        "SAMLProvidersPerAccount",
        limits.SAML_PROVIDERS_PER_ACCOUNT,
    )
    provider = SamlProvider(
        account_id=account_id,
        name=name,
        arn=arns.saml_provider_arn(account_id, name),
        metadata_xml=metadata_xml,
        valid_until=metadata.valid_until,
        create_date=now,
        tags=tag_map,
    )
    added = provider_store.add_saml_provider(
        tx, provider, entity_id=metadata.entity_id, options=options or {}, source=source
    )
    written_or_conflict(added, "EntityAlreadyExists", message)
    return provider


def update_saml_provider_metadata(tx: Tx, provider_arn: str, metadata_xml: str) -> None:
    """Replace the provider's metadata. Its signing certificates become the only ones trusted: any
    kept from a metadata refresh's key rollover are dropped (a refresh adds back its own after)."""
    try:
        metadata = parse_idp_metadata(metadata_xml)
    except MetadataError as exc:
        raise AwsError("InvalidInput", f"Could not parse metadata: {exc}") from None
    provider_store.set_saml_metadata(
        tx, provider_arn, metadata_xml=metadata_xml, entity_id=metadata.entity_id, valid_until=metadata.valid_until
    )
    end_key_rollover(tx, provider_arn)


def end_key_rollover(tx: Tx, provider_arn: str) -> None:
    """Stop trusting the certificates kept from a metadata refresh's key rollover: an administrator
    who sets a provider's metadata (or where it comes from) decides which keys are trusted."""
    options = provider_store.saml_options(tx, provider_arn)
    if ROLLOVER_CERTS in options:
        del options[ROLLOVER_CERTS]
        provider_store.set_saml_options(tx, provider_arn, options)


def get_saml_provider(tx: Tx, account_id: str, provider_arn: str) -> SamlProvider:
    try:
        owner, _name = arns.parse_saml_provider_arn(provider_arn)
    except arns.InvalidArn as exc:
        raise AwsError("InvalidInput", f"Invalid SAML provider ARN: {exc}") from None
    provider = provider_store.saml_provider(tx, provider_arn)
    if provider is None or owner != account_id:
        raise AwsError("NoSuchEntity", f"Manifest not found for arn {provider_arn}")
    return provider


def update_saml_provider(tx: Tx, account_id: str, provider_arn: str, metadata_xml: str | None) -> None:
    get_saml_provider(tx, account_id, provider_arn)
    if metadata_xml is not None:
        update_saml_provider_metadata(tx, provider_arn, _check_metadata_length(metadata_xml))


def delete_saml_provider(tx: Tx, account_id: str, provider_arn: str) -> None:
    get_saml_provider(tx, account_id, provider_arn)
    written_or_conflict(provider_store.delete_saml_provider(tx, provider_arn))


def list_saml_providers(tx: Tx, account_id: str) -> list[dict[str, Any]]:
    """ListSAMLProviders' ``SAMLProviderList``."""
    return [
        {"Arn": p.arn, "ValidUntil": p.valid_until, "CreateDate": p.create_date}
        for p in provider_store.saml_providers(tx, account_id)
    ]
