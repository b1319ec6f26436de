"""SAML identity providers and their tags."""

from __future__ import annotations

from typing import Any

from broker.iam import arn as arns
from broker.iam.names import validate_saml_provider_name
from broker.services.api.call import Call
from broker.services.api.iam.support import request_tags, required_members, required_tags, resource_tags, tag_page
from broker.services.api.registry import action
from broker.services.iam import providers
from broker.services.iam._common import merged_tags, tag_list, without_tags
from broker.store import repositories as repo


def _authorize_on_provider(
    call: Call, action_name: str, provider_arn: str, extra: dict[str, Any] | None = None
) -> None:
    existing = repo.provider_by_arn(call.session, provider_arn)
    context = resource_tags(existing.tags) if existing is not None and existing.account_id == call.account_id else {}
    context.update(extra or {})
    call.authorize(action_name, provider_arn, context)


@action("CreateSAMLProvider", "iam")
def create_saml_provider(call: Call) -> dict[str, Any]:
    name = validate_saml_provider_name(call.params.required("Name"))
    tags = call.params.tags()
    try:
        resource = arns.saml_provider_arn(call.account_id, name)
    except arns.InvalidArn:
        resource = f"arn:aws:iam::{call.account_id}:saml-provider/{name}"
    call.authorize("iam:CreateSAMLProvider", resource, request_tags(tags))
    provider = providers.create_saml_provider(
        call.session,
        call.account_id,
        name,
        call.params.required("SAMLMetadataDocument"),
        tags,
        call.runtime.now(),
    )
    return {"SAMLProviderArn": provider.arn, "Tags": tag_list(provider.tags) or None}


@action("GetSAMLProvider", "iam", read_only=True)
def get_saml_provider(call: Call) -> dict[str, Any]:
    provider_arn = call.params.required("SAMLProviderArn")
    _authorize_on_provider(call, "iam:GetSAMLProvider", provider_arn)
    provider = providers.get_saml_provider(call.session, call.account_id, provider_arn)
    return {
        "SAMLMetadataDocument": provider.metadata_xml,
        "CreateDate": provider.created_at,
        "ValidUntil": provider.valid_until,
        "Tags": tag_list(provider.tags) or None,
    }


@action("UpdateSAMLProvider", "iam")
def update_saml_provider(call: Call) -> dict[str, Any]:
    provider_arn = call.params.required("SAMLProviderArn")
    _authorize_on_provider(call, "iam:UpdateSAMLProvider", provider_arn)
    provider = providers.update_saml_provider(
        call.session, call.account_id, provider_arn, call.params.get("SAMLMetadataDocument")
    )
    return {"SAMLProviderArn": provider.arn}


@action("ListSAMLProviders", "iam", read_only=True)
def list_saml_providers(call: Call) -> dict[str, Any]:
    call.authorize("iam:ListSAMLProviders", "*")
    found = repo.list_providers(call.session, call.account_id)
    return {
        "SAMLProviderList": [{"Arn": p.arn, "ValidUntil": p.valid_until, "CreateDate": p.created_at} for p in found]
    }


@action("DeleteSAMLProvider", "iam")
def delete_saml_provider(call: Call) -> None:
    provider_arn = call.params.required("SAMLProviderArn")
    _authorize_on_provider(call, "iam:DeleteSAMLProvider", provider_arn)
    providers.delete_saml_provider(call.session, call.account_id, provider_arn)
    return None


@action("TagSAMLProvider", "iam")
def tag_saml_provider(call: Call) -> None:
    provider_arn = call.params.required("SAMLProviderArn")
    tags = required_tags(call)
    _authorize_on_provider(call, "iam:TagSAMLProvider", provider_arn, request_tags(tags))
    provider = providers.get_saml_provider(call.session, call.account_id, provider_arn)
    provider.tags = merged_tags(provider.tags, tags, "SAMLProvider")
    return None


@action("UntagSAMLProvider", "iam")
def untag_saml_provider(call: Call) -> None:
    provider_arn = call.params.required("SAMLProviderArn")
    keys = required_members(call, "TagKeys")
    _authorize_on_provider(call, "iam:UntagSAMLProvider", provider_arn, {"aws:TagKeys": keys})
    provider = providers.get_saml_provider(call.session, call.account_id, provider_arn)
    provider.tags = without_tags(provider.tags, keys)
    return None


@action("ListSAMLProviderTags", "iam", read_only=True)
def list_saml_provider_tags(call: Call) -> dict[str, Any]:
    provider_arn = call.params.required("SAMLProviderArn")
    _authorize_on_provider(call, "iam:ListSAMLProviderTags", provider_arn)
    return tag_page(call, providers.get_saml_provider(call.session, call.account_id, provider_arn).tags)
