"""SP-initiated sign-in: the AuthnRequest out, and pairing the response that comes back with it.

``/saml/login?provider=...`` is a link anyone can write, so the broker follows only the SSO URL
of a provider that a person could sign in through: one registered here and named by the trust
policy of at least one role (the trusted-principal index, :mod:`broker.store.trust_index`; a role
that trusts ``*`` vouches for no provider in particular). The installation's own providers (those
of ``default_account_id``, where metadata files are loaded) are followed at once; for a provider
that some other account registered, the person is first shown which IdP host and which account
the link leads to, and continues with a button whose form carries a token bound to their
browser (the binding cookie) and to that provider, which no other site can supply.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from broker.errors import BrokerError
from broker.iam.constant_time import same_secret
from broker.saml.assertion import Assertion
from broker.saml.errors import MetadataError, SamlError
from broker.saml.metadata import parse_idp_metadata
from broker.services.audit import Actor, ClientInfo
from broker.services.federation.audit import sign_in_scope
from broker.services.federation.errors import (
    BadCsrf,
    ProviderMisconfigured,
    ProviderNotEligible,
    UnknownProvider,
)
from broker.services.federation.provider_lists import named_in
from broker.services.federation.providers import ProviderLookup, find_provider_by_reference, idp_host, is_eligible
from broker.services.federation.sessions import token_hash
from broker.services.runtime import Runtime
from broker.settings import Settings
from broker.store import Tx
from broker.store import federation as store
from broker.store.federation import ProviderRecord, SamlRequestRecord
from broker.store.iam import accounts


@dataclass(frozen=True)
class LoginTarget:
    """Where a sign-in link leads: the provider, the host of its IdP and the account that registered it."""

    provider_arn: str
    provider_name: str
    account_id: str
    account_alias: str | None
    idp_host: str
    # The installation's own provider (default account): followed without asking.
    trusted: bool

    @property
    def reference(self) -> str:
        return f"{self.account_id}/{self.provider_name}"


@dataclass(frozen=True)
class LoginStart:
    """The outcome of a sign-in link: the IdP URL to redirect to, or (``url`` None) the question
    to ask first, with the ``confirmation`` its continue form must carry back."""

    target: LoginTarget
    url: str | None = None
    confirmation: str | None = None


def confirmation_token(browser_binding: str, provider_arn: str) -> str:
    """What the continue form carries: keyed by the browser's binding cookie, which other sites never see."""
    return hmac.new(browser_binding.encode(), b"saml-login:" + provider_arn.encode(), hashlib.sha256).hexdigest()


def _target(tx: Tx, settings: Settings, reference: str) -> tuple[LoginTarget, ProviderRecord, str]:
    provider = find_provider_by_reference(tx, settings, reference)
    if provider is None:
        raise UnknownProvider(f"No identity provider named {reference[:200]!r}.")
    try:
        metadata = parse_idp_metadata(provider.metadata_xml)
    except MetadataError as exc:
        raise ProviderMisconfigured(f"The provider's metadata is unusable: {exc}") from None
    destination = metadata.sso_redirect_url
    if destination is None:
        raise ProviderMisconfigured(
            "The provider's metadata has no HTTP-Redirect SingleSignOnService; start sign-in at the IdP."
        )
    if not is_eligible(tx, provider):
        raise ProviderNotEligible(
            "No role trusts this identity provider, so the broker does not sign you in through it."
        )
    account = accounts.get_account(tx, provider.account_id)
    target = LoginTarget(
        provider_arn=provider.arn,
        provider_name=provider.name,
        account_id=provider.account_id,
        account_alias=account.alias if account is not None else None,
        idp_host=idp_host(destination),
        trusted=provider.account_id == settings.default_account_id,
    )
    return target, provider, destination


def begin_login(
    runtime: Runtime,
    provider_reference: str,
    browser_binding: str,
    relay_state: str | None,
    confirmation: str | None,
    client: ClientInfo,
) -> LoginStart:
    """A sign-in link followed: the IdP URL carrying a signed AuthnRequest, or the question to ask
    first (a provider outside the default account, not yet confirmed). Every refusal is audited."""
    settings = runtime.settings
    now = runtime.now()
    try:
        with runtime.db.transaction() as tx:
            target, provider, destination = _target(tx, settings, provider_reference)
            if not target.trusted:
                expected = confirmation_token(browser_binding, provider.arn)
                if confirmation is None:
                    return LoginStart(target, confirmation=expected)
                if not same_secret(expected, confirmation):
                    raise BadCsrf("The sign-in page has expired. Start the sign-in again.")
            url = _authn_request(runtime, tx, provider, destination, browser_binding, relay_state, now)
            return LoginStart(target, url=url)
    except BrokerError as exc:
        with runtime.db.transaction() as tx:
            scope = sign_in_scope(
                settings,
                "ConsoleLogin",
                Actor(type="SAMLUser"),
                client,
                request_parameters={"provider": provider_reference[:256]},
                additional={"step": "StartSignIn"},
            )
            scope.record(tx, now, error=exc)
        raise


def start_login(runtime: Runtime, provider_reference: str, browser_binding: str, relay_state: str | None) -> str:
    """The IdP URL carrying a signed AuthnRequest; its answer must come back in this browser.

    For callers that already chose the provider; the same eligibility applies, without the question."""
    settings = runtime.settings
    now = runtime.now()
    with runtime.db.transaction() as tx:
        _, provider, destination = _target(tx, settings, provider_reference)
        return _authn_request(runtime, tx, provider, destination, browser_binding, relay_state, now)


def _authn_request(
    runtime: Runtime,
    tx: Tx,
    provider: ProviderRecord,
    destination: str,
    browser_binding: str,
    relay_state: str | None,
    now: dt.datetime,
) -> str:
    redirect = runtime.sp.authn_request(destination, relay_state=relay_state, now=now)
    store.add_saml_request(
        tx,
        SamlRequestRecord(
            request_id=redirect.request_id,
            provider_arn=provider.arn,
            browser_binding=token_hash(browser_binding),
            relay_state=relay_state,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=runtime.settings.saml_request_lifetime_seconds),
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
) -> str | None:
    """A response answers an AuthnRequest this broker sent to that provider from this browser, not
    answered yet; an unsolicited one only where the provider and the settings allow IdP-initiated
    sign-in. Reads only: the request's id (None for an unsolicited response) is for
    :func:`answer_request`, in the write that follows.

    The request is the one ``lookup`` read to pin the provider (read once).
    """
    if assertion.in_response_to is None:
        refuse = provider.options.get("refuse_unsolicited")
        if (
            refuse
            or not settings.saml_allow_unsolicited
            or named_in(settings.saml_refuse_unsolicited_providers, provider.name)
        ):
            raise SamlError("UnsolicitedRefused", f"provider {provider.name} refuses IdP-initiated sign-in")
        return None
    request = lookup.saml_request(assertion.in_response_to)
    if request is None:
        raise SamlError("UnknownRequest", f"InResponseTo {assertion.in_response_to!r} was not issued here")
    if request.provider_arn != provider.arn:
        raise SamlError("UnknownRequest", "the response answers a request sent to another provider")
    if request.consumed_at is not None:  # a second response to one request: a replay
        raise SamlError("Replay", f"the request {assertion.in_response_to!r} was already answered")
    if request.expires_at <= now:
        raise SamlError("UnknownRequest", "the request has expired")
    if browser_binding is None or not same_secret(request.browser_binding, token_hash(browser_binding)):
        raise SamlError("BrowserMismatch", "the response came back in a different browser than the request left")
    if request.relay_state is not None and relay_state != request.relay_state:
        raise SamlError("BadRelayState", "RelayState differs from the one the request carried")
    return request.request_id


def answer_request(tx: Tx, request_id: str | None, now: dt.datetime) -> None:
    """Mark the request a checked response answers (``request_id``; None: unsolicited) as answered:
    one guarded UPDATE, so of two racing responses to one request (on any instance) only one gets
    through."""
    if request_id is not None and not store.answer_saml_request(tx, request_id, now):
        raise SamlError("Replay", f"the request {request_id!r} was already answered")


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
