"""The identity providers a sign-in may come through, and validating a response against one.

Several accounts may register the same IdP (any account's administrators can register any IdP's
public metadata), so which registration validates a response is decided here, never by the
response alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from broker.saml.acs import AcsPolicy, ProviderFinder, ProviderTrust, validate_response
from broker.saml.assertion import Assertion
from broker.saml.errors import MetadataError, SamlError
from broker.saml.metadata import parse_idp_metadata
from broker.services.runtime import Runtime
from broker.settings import Settings
from broker.store import Tx
from broker.store import federation as store
from broker.store.federation import ProviderRecord

log = logging.getLogger("broker.federation")


@dataclass(frozen=True)
class ProviderChoice:
    """A provider the sign-in page offers; ``reference`` is what ``/saml/login?provider=`` takes."""

    name: str
    account_id: str
    reference: str


def sign_in_choices(runtime: Runtime) -> list[ProviderChoice]:
    with runtime.db.transaction() as tx:
        return [
            ProviderChoice(name=p.name, account_id=p.account_id, reference=f"{p.account_id}/{p.name}")
            for p in store.list_providers(tx)
        ]


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
        allow_sha1=bool(options.get("allow_sha1")) or provider.name in settings.saml_sha1_providers,
        allow_cbc=bool(options.get("allow_cbc")) or provider.name in settings.saml_cbc_providers,
        valid_until=provider.valid_until,
    )


def acs_policy(runtime: Runtime) -> AcsPolicy:
    settings = runtime.settings
    return AcsPolicy(
        acs_url=settings.acs_url,
        sp_entity_id=settings.sp_entity_id,
        decryption_keys=(runtime.keys.sp_encryption_key_pem,),
        clock_skew=dt.timedelta(seconds=settings.saml_clock_skew_seconds),
        max_bytes=settings.saml_max_response_bytes,
    )


def provider_finder(tx: Tx, settings: Settings, pinned_arn: str | None = None) -> ProviderFinder:
    """Look a provider up by issuer for the ACS; ``pinned_arn`` limits it to that one (STS).

    A sign-in started at the broker is pinned to the registration its AuthnRequest went through
    (found by the Response's InResponseTo). An IdP-initiated one uses the only registration, or
    else the default account's; with several and none there it is refused (``AmbiguousIssuer``)
    rather than handed to whichever account's registration sorts first.
    """

    def find(issuer: str, in_response_to: str | None) -> ProviderTrust | None:
        candidates = store.providers_by_entity_id(tx, issuer)
        request = store.saml_request(tx, in_response_to[:128]) if in_response_to and not pinned_arn else None
        pinned = pinned_arn or (request.provider_arn if request is not None else None)
        if pinned is not None:
            candidates = [p for p in candidates if p.arn == pinned]
        elif len(candidates) > 1:
            candidates = [p for p in candidates if p.account_id == settings.default_account_id]
            if len(candidates) != 1:
                raise SamlError(
                    "AmbiguousIssuer",
                    f"{issuer!r} is registered by several accounts and none is the default account's "
                    "(or it has several); IdP-initiated sign-in cannot choose",
                )
        for provider in candidates:
            try:
                return trust_from(provider, settings)
            except MetadataError:
                log.error("provider %s has unusable metadata", provider.arn)
        return None

    return find


def validate(
    runtime: Runtime, tx: Tx, saml_response: str, now: dt.datetime, pinned_arn: str | None = None
) -> tuple[Assertion, ProviderTrust]:
    """The one validation of a response, against the registration :func:`provider_finder` picks."""
    return validate_response(
        saml_response, acs_policy(runtime), provider_finder(tx, runtime.settings, pinned_arn), now=now
    )


def replay_window_end(runtime: Runtime, assertion: Assertion) -> dt.datetime:
    """Until when an assertion's id is remembered: its expiry, plus the clock skew it was accepted with."""
    return assertion.not_on_or_after + acs_policy(runtime).clock_skew
