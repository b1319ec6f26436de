"""SP-initiated sign-in: the AuthnRequest out, and pairing the response that comes back with it."""

from __future__ import annotations

import datetime as dt
import hmac

from broker.saml.assertion import Assertion
from broker.saml.errors import MetadataError, SamlError
from broker.saml.metadata import parse_idp_metadata
from broker.services.federation.errors import ProviderMisconfigured, UnknownProvider
from broker.services.federation.providers import ProviderLookup, find_provider_by_reference
from broker.services.federation.sessions import token_hash
from broker.services.runtime import Runtime
from broker.settings import Settings
from broker.store import federation as store
from broker.store.federation import ProviderRecord, SamlRequestRecord


def start_login(runtime: Runtime, provider_reference: str, browser_binding: str, relay_state: str | None) -> str:
    """The IdP URL carrying a signed AuthnRequest; its answer must come back in this browser."""
    settings = runtime.settings
    now = runtime.now()
    with runtime.db.transaction() as tx:
        provider = find_provider_by_reference(tx, settings, provider_reference)
        if provider is None:
            raise UnknownProvider(f"No identity provider named {provider_reference!r}.")
        try:
            metadata = parse_idp_metadata(provider.metadata_xml)
        except MetadataError as exc:
            raise ProviderMisconfigured(f"The provider's metadata is unusable: {exc}") from None
        destination = metadata.sso_redirect_url
        if destination is None:
            raise ProviderMisconfigured(
                "The provider's metadata has no HTTP-Redirect SingleSignOnService; start sign-in at the IdP."
            )
        redirect = runtime.sp.authn_request(destination, relay_state=relay_state, now=now)
        store.add_saml_request(
            tx,
            SamlRequestRecord(
                request_id=redirect.request_id,
                provider_arn=provider.arn,
                browser_binding=token_hash(browser_binding),
                relay_state=relay_state,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=settings.saml_request_lifetime_seconds),
            ),
        )
        return redirect.url


def check_request(
    lookup: ProviderLookup,
    settings: Settings,
    assertion: Assertion,
    provider: ProviderRecord,
    relay_state: str | None,
    browser_binding: str | None,
    now: dt.datetime,
) -> None:
    """A response answers an AuthnRequest this broker sent to that provider from this browser, once;
    an unsolicited one only where the provider and the settings allow IdP-initiated sign-in.

    The request is the one ``lookup`` read to pin the provider (read once); answering it is one
    guarded UPDATE, so of two racing responses to one request only one gets through.
    """
    if assertion.in_response_to is None:
        refuse = provider.options.get("refuse_unsolicited")
        if refuse or not settings.saml_allow_unsolicited or provider.name in settings.saml_refuse_unsolicited_providers:
            raise SamlError("UnsolicitedRefused", f"provider {provider.name} refuses IdP-initiated sign-in")
        return
    request = lookup.saml_request(assertion.in_response_to)
    if request is None:
        raise SamlError("UnknownRequest", f"InResponseTo {assertion.in_response_to!r} was not issued here")
    if request.provider_arn != provider.arn:
        raise SamlError("UnknownRequest", "the response answers a request sent to another provider")
    if request.consumed_at is not None or request.expires_at <= now:
        raise SamlError("UnknownRequest", "the request was already answered or has expired")
    if browser_binding is None or not hmac.compare_digest(request.browser_binding, token_hash(browser_binding)):
        raise SamlError("BrowserMismatch", "the response came back in a different browser than the request left")
    if not store.answer_saml_request(lookup.tx, request.request_id, now):
        raise SamlError("UnknownRequest", "the request was already answered or has expired")
    if request.relay_state is not None and relay_state != request.relay_state:
        raise SamlError("BadRelayState", "RelayState differs from the one the request carried")


def check_relay_state(settings: Settings, relay_state: str | None) -> None:
    if relay_state and not is_local_path(relay_state, settings.base_url):
        raise SamlError("BadRelayState", "RelayState points off-site")


def is_local_path(target: str, base_url: str) -> bool:
    """A RelayState we will follow: a path on this site, or an absolute URL under base_url."""
    if target.startswith(base_url + "/"):
        target = target[len(base_url) :]
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 0x20 for c in target)
    )
