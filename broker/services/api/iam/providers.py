"""SAML identity providers and their tags."""

from __future__ import annotations

from typing import Any

from broker.iam.names import validate_saml_provider_name
from broker.services.api.call import Call
from broker.services.api.iam import shared
from broker.services.api.iam.support import SAML_PROVIDER, request_tags
from broker.services.api.registry import action
from broker.services.iam import providers
from broker.services.iam.resources import resource_arn
from broker.services.iam.views import new_saml_provider_view, saml_provider_view


@action("CreateSAMLProvider", "iam")
def create_saml_provider(call: Call) -> dict[str, Any]:
    name = validate_saml_provider_name(call.params.required("Name"))
    tags = call.params.tags()
    call.authorize("iam:CreateSAMLProvider", resource_arn("saml-provider", call.account_id, name), request_tags(tags))
    metadata = call.params.required("SAMLMetadataDocument")
    provider = providers.create_saml_provider(call.tx, call.account_id, name, metadata, tags, call.runtime.now())
    return new_saml_provider_view(provider)


@action("GetSAMLProvider", "iam", read_only=True)
def get_saml_provider(call: Call) -> dict[str, Any]:
    provider_arn = SAML_PROVIDER.authorized(call, "iam:GetSAMLProvider")
    return saml_provider_view(providers.get_saml_provider(call.tx, call.account_id, provider_arn))


@action("UpdateSAMLProvider", "iam")
def update_saml_provider(call: Call) -> dict[str, Any]:
    provider_arn = SAML_PROVIDER.authorized(call, "iam:UpdateSAMLProvider")
    metadata = call.params.get("SAMLMetadataDocument")
    providers.update_saml_provider(call.tx, call.account_id, provider_arn, metadata)
    return {"SAMLProviderArn": provider_arn}


@action("ListSAMLProviders", "iam", read_only=True)
def list_saml_providers(call: Call) -> dict[str, Any]:
    call.authorize("iam:ListSAMLProviders", "*")
    return {"SAMLProviderList": providers.list_saml_providers(call.tx, call.account_id)}


shared.register_deletion(SAML_PROVIDER, providers.delete_saml_provider)
shared.register_tagging(SAML_PROVIDER)
