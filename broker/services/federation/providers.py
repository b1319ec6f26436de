"""The identity providers a sign-in may come through, and validating a response against one.

Several accounts may register the same IdP (any account's administrators can register any IdP's
public metadata), so which registration validates a response is decided here, never by the
response alone.

What a response is checked against (each registration's parsed metadata and options) comes from
the process's versioned cache: SAML provider changes bump the ``*`` generation, so a registration,
an update or a deletion is seen by every process at its next request.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from broker.saml.acs import AcsPolicy, ProviderTrust, validate_response
from broker.saml.assertion import Assertion
from broker.saml.errors import MetadataError, SamlError
from broker.saml.metadata import parse_idp_metadata, web_origin
from broker.services.federation.metadata_refresh import rollover_certs
from broker.services.federation.provider_lists import named_in
from broker.services.runtime import Runtime
from broker.settings import Settings
from broker.store import Tx
from broker.store import federation as store
from broker.store.federation import ProviderRecord, SamlRequestRecord
from broker.store.generations import EVERYWHERE
from broker.store.iam import accounts
from broker.store.trust_index import trusted_principals

log = logging.getLogger("broker.federation")

# Longer request ids were never issued here (the column holds 128 characters).
_REQUEST_ID_MAX = 128


@dataclass(frozen=True)
class ProviderChoice:
    """A provider the sign-in page offers; ``reference`` is what ``/saml/login?provider=`` takes,
    ``idp_host`` where it sends the person."""

    name: str
    account_id: str
    reference: str
    idp_host: str = ""
    account_alias: str | None = None


def is_eligible(tx: Tx, provider: ProviderRecord) -> bool:
    """Whether a person could sign in through the provider: some role's trust policy names it
    (read through the trusted-principal index; a role that trusts ``*`` names no provider)."""
    return any(provider.arn in trusted_principals(role.trust_policy) for role in store.roles_trusting(tx, provider.arn))


def idp_host(sso_url: str) -> str:
    """The host (and port, if not the default) a sign-in is sent to, in ASCII (punycode) as browsers send it."""
    origin = web_origin(sso_url) or sso_url
    return origin.split("://", 1)[-1]


def sign_in_choices(runtime: Runtime) -> list[ProviderChoice]:
    """The providers a sign-in can start at the broker with: eligible, with an HTTP-Redirect SSO endpoint."""
    choices = []
    with runtime.db.read() as tx:
        aliases: dict[str, str | None] = {}
        for provider in store.list_providers(tx):
            try:
                sso_url = parse_idp_metadata(provider.metadata_xml).sso_redirect_url
            except MetadataError:
                continue
            if sso_url is None or not is_eligible(tx, provider):
                continue
            if provider.account_id not in aliases:
                account = accounts.get_account(tx, provider.account_id)
                aliases[provider.account_id] = account.alias if account is not None else None
            choices.append(
                ProviderChoice(
                    name=provider.name,
                    account_id=provider.account_id,
                    reference=f"{provider.account_id}/{provider.name}",
                    idp_host=idp_host(sso_url),
                    account_alias=aliases[provider.account_id],
                )
            )
    return choices


def find_provider_by_reference(tx: Tx, settings: Settings, reference: str) -> ProviderRecord | None:
    """``NAME``, ``ACCOUNT/NAME`` or a provider ARN; a bare name several accounts use means the default account's."""
    if reference.startswith("arn:"):
        return store.provider_by_arn(tx, reference)
    if "/" in reference:
        account, _, name = reference.partition("/")
        return store.provider_by_name(tx, account, name.lower())
    matches = [p for p in store.list_providers(tx) if p.name_key == reference.lower()]
    if len(matches) > 1:
        default = [p for p in matches if p.account_id == settings.default_account_id]
        return default[0] if default else None
    return matches[0] if matches else None


def trust_from(provider: ProviderRecord, settings: Settings) -> ProviderTrust:
    """What the ACS needs of a registration; raises :class:`MetadataError` if its metadata is unusable."""
    metadata = parse_idp_metadata(provider.metadata_xml)
    options = provider.options
    return ProviderTrust(
        arn=provider.arn,
        name=provider.name,
        entity_id=metadata.entity_id,
        signing_certs=metadata.signing_certs,
        # The certificates a refreshed document dropped, trusted until their grace period ends.
        rollover_certs=rollover_certs(options),
        allow_sha1=bool(options.get("allow_sha1")) or named_in(settings.saml_sha1_providers, provider.name),
        allow_cbc=bool(options.get("allow_cbc")) or named_in(settings.saml_cbc_providers, provider.name),
        valid_until=provider.valid_until,
    )


@dataclass(frozen=True, slots=True)
class Registration:
    """One account's registration of an IdP as the ACS uses it: the record, and what a response is
    checked against (``None`` when its metadata is unusable)."""

    record: ProviderRecord
    trust: ProviderTrust | None
    # The origins of its SSO and SLO endpoints: where its responses may be posted from.
    origins: frozenset[str] = frozenset()


def _registrations(tx: Tx, settings: Settings, issuer: str) -> tuple[Registration, ...]:
    found = []
    for provider in store.providers_by_entity_id(tx, issuer):
        try:
            trust: ProviderTrust | None = trust_from(provider, settings)
            origins = parse_idp_metadata(provider.metadata_xml).endpoint_origins
        except MetadataError:
            trust, origins = None, frozenset()
        found.append(Registration(provider, trust, origins))
    return tuple(found)


def registrations(runtime: Runtime, tx: Tx, issuer: str) -> tuple[Registration, ...]:
    """Every account's registration of the IdP ``issuer`` names, by account and name.

    From the process's cache while no SAML provider changed (read under the stamp of ``tx``). The
    issuer is unauthenticated at this point: one that no account registers is answered from the
    cached set of registered entity IDs, so made-up issuers neither reach the database nor fill
    the cache.
    """
    cache = runtime.cache
    registered = cache.get(tx, EVERYWHERE, ("saml-entity-ids",), lambda: frozenset(store.provider_entity_ids(tx)))
    if issuer not in registered:
        return ()
    return cache.get(
        tx, EVERYWHERE, ("saml-registrations", issuer), lambda: _registrations(tx, runtime.settings, issuer)
    )


def acs_policy(runtime: Runtime) -> AcsPolicy:
    settings = runtime.settings
    return AcsPolicy(
        acs_url=settings.acs_url,
        sp_entity_id=settings.sp_entity_id,
        decryption_keys=runtime.keys.sp_decryption_keys(),
        clock_skew=dt.timedelta(seconds=settings.saml_clock_skew_seconds),
        max_bytes=settings.saml_max_response_bytes,
    )


class ProviderLookup:
    """The ACS's provider finder for one transaction; ``pinned_arn`` limits it to that one (STS).

    A sign-in started at the broker is pinned to the registration its AuthnRequest went through
    (found by the Response's InResponseTo). An IdP-initiated one uses the only registration, or
    else the default account's; with several and none there it is refused (``AmbiguousIssuer``)
    rather than handed to whichever account's registration sorts first.

    The outstanding request read to pin the registration is kept, so checking it afterwards
    (:func:`broker.services.federation.login.check_request`) does not read it again.
    """

    def __init__(self, runtime: Runtime, tx: Tx, pinned_arn: str | None = None) -> None:
        self.runtime = runtime
        self.tx = tx
        self.pinned_arn = pinned_arn
        self._requests: dict[str, SamlRequestRecord | None] = {}
        self._chosen: dict[str, Registration] = {}

    def __call__(self, issuer: str, in_response_to: str | None) -> ProviderTrust | None:
        candidates = registrations(self.runtime, self.tx, issuer)
        if not candidates:
            return None
        request = self.saml_request(in_response_to) if in_response_to and not self.pinned_arn else None
        pinned = self.pinned_arn or (request.provider_arn if request is not None else None)
        if pinned is not None:
            candidates = tuple(c for c in candidates if c.record.arn == pinned)
        elif len(candidates) > 1:
            candidates = tuple(c for c in candidates if c.record.account_id == self.runtime.settings.default_account_id)
            if len(candidates) != 1:
                raise SamlError(
                    "AmbiguousIssuer",
                    f"{issuer!r} is registered by several accounts and none is the default account's "
                    "(or it has several); IdP-initiated sign-in cannot choose",
                )
        for candidate in candidates:
            if candidate.trust is None:
                log.error("provider %s has unusable metadata", candidate.record.arn)
                continue
            self._chosen[candidate.trust.arn] = candidate
            return candidate.trust
        return None

    def saml_request(self, request_id: str) -> SamlRequestRecord | None:
        """The outstanding request ``request_id`` names, read once per lookup."""
        if request_id not in self._requests:
            known = len(request_id) <= _REQUEST_ID_MAX
            self._requests[request_id] = store.saml_request(self.tx, request_id) if known else None
        return self._requests[request_id]

    def record(self, trust: ProviderTrust) -> ProviderRecord:
        """The registration behind a trust this lookup returned."""
        return self._chosen[trust.arn].record

    def origins(self, trust: ProviderTrust) -> frozenset[str]:
        """The endpoint origins of the registration behind a trust this lookup returned."""
        return self._chosen[trust.arn].origins

    def validate(self, saml_response: str, now: dt.datetime) -> tuple[Assertion, ProviderTrust]:
        """The one validation of a response, against the registration this lookup picks."""
        return validate_response(saml_response, acs_policy(self.runtime), self, now=now)


def validate(
    runtime: Runtime, tx: Tx, saml_response: str, now: dt.datetime, pinned_arn: str | None = None
) -> tuple[Assertion, ProviderTrust]:
    """The one validation of a response, against the registration :class:`ProviderLookup` picks."""
    return ProviderLookup(runtime, tx, pinned_arn).validate(saml_response, now)


def replay_window_end(runtime: Runtime, assertion: Assertion) -> dt.datetime:
    """Until when an assertion's id is remembered: its expiry, plus the clock skew it was accepted with."""
    return assertion.not_on_or_after + acs_policy(runtime).clock_skew
