"""Assertion consumer: turns a POSTed SAMLResponse into an :class:`Assertion` or one SamlError.

Order matters: structure and limits first, then signatures (against keys pinned from the
provider's metadata), and only then is any content of the message believed. The content is
read by :mod:`broker.saml.content` from the same tree the signature verified, never from a
second parse. docs/security.md ("What the ACS checks") lists every code and the order of the
checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree

from broker.saml.assertion import Assertion
from broker.saml.content import issue_instant as checked_issue_instant
from broker.saml.content import read_assertion, single, text_of
from broker.saml.errors import SamlError
from broker.saml.xmldsig import (
    b64decode_strict,
    check_encryption_algorithms,
    check_unique_ids,
    decrypt_assertion,
    signature_of,
    verify_enveloped,
)
from broker.saml.xmlsafe import parse_xml, q

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
_RESPONSE = q("samlp", "Response")
_STATUS = q("samlp", "Status")
_STATUS_CODE = q("samlp", "StatusCode")
_STATUS_MESSAGE = q("samlp", "StatusMessage")
_ISSUER = q("saml", "Issuer")
_ASSERTION = q("saml", "Assertion")
_ENCRYPTED_ASSERTION = q("saml", "EncryptedAssertion")


@dataclass(frozen=True)
class ProviderTrust:
    """What the ACS needs to know about a registered provider."""

    arn: str
    name: str
    entity_id: str
    signing_certs: tuple[bytes, ...]
    allow_sha1: bool = False
    allow_cbc: bool = False
    valid_until: dt.datetime | None = None
    # Certificates a refreshed metadata document dropped, each with the end of its grace period.
    rollover_certs: tuple[tuple[bytes, dt.datetime], ...] = ()

    def signing_certs_at(self, now: dt.datetime) -> tuple[bytes, ...]:
        """The certificates that verify a signature at ``now``: the metadata's, and those dropped
        from it whose grace period has not ended (checked here, at each validation, so a stale
        cache or a refresh pass that has not run yet cannot extend it)."""
        return self.signing_certs + tuple(pem for pem, until in self.rollover_certs if now < until)


@dataclass(frozen=True)
class AcsPolicy:
    acs_url: str
    sp_entity_id: str
    decryption_keys: Sequence[bytes]
    clock_skew: dt.timedelta = dt.timedelta(seconds=60)
    max_bytes: int = 256 * 1024


# Looks a provider up by issuer; the second argument is the Response's InResponseTo (unverified
# at that point: it may only narrow which registration's keys check the message).
ProviderFinder = Callable[[str, str | None], ProviderTrust | None]


def validate_response(
    saml_response: str,
    policy: AcsPolicy,
    find_provider: ProviderFinder,
    now: dt.datetime | None = None,
) -> tuple[Assertion, ProviderTrust]:
    """Validate a base64 SAMLResponse. Raises :class:`SamlError` with the precise reason."""
    now = now or dt.datetime.now(dt.UTC)
    skew = policy.clock_skew
    if len(saml_response) > policy.max_bytes:
        raise SamlError("MessageTooLarge", f"SAMLResponse is {len(saml_response)} bytes, limit {policy.max_bytes}")
    raw = b64decode_strict(saml_response)
    root = parse_xml(raw)
    if root.tag != _RESPONSE:
        raise SamlError("MalformedMessage", f"expected samlp:Response, got {etree.QName(root).localname}")
    check_unique_ids(root)
    if root.get("Version") != "2.0":
        raise SamlError("MalformedMessage", f"Response Version {root.get('Version')!r} is not 2.0")
    response_id = root.get("ID")
    if not response_id:
        raise SamlError("MalformedMessage", "Response has no ID")
    issue_instant = checked_issue_instant(root, "Response", now, skew)
    destination = root.get("Destination")
    if destination is None:
        raise SamlError("WrongDestination", "Response has no Destination")
    if destination != policy.acs_url:
        raise SamlError("WrongDestination", f"Destination {destination!r} is not this ACS ({policy.acs_url})")

    status = root.find(_STATUS)
    status_code = status.find(_STATUS_CODE) if status is not None else None
    if status_code is None or status_code.get("Value") != STATUS_SUCCESS:
        top = status_code.get("Value") if status_code is not None else "missing"
        nested = status_code.find(_STATUS_CODE) if status_code is not None else None
        message = text_of(status.find(_STATUS_MESSAGE)) if status is not None else None
        detail = f"status {top}" + (f" / {nested.get('Value')}" if nested is not None else "")
        raise SamlError("StatusNotSuccess", detail + (f": {message[:200]}" if message else ""))

    # Exactly one assertion, plain or encrypted, as a direct child; none anywhere else.
    everywhere = list(root.iter(_ASSERTION, _ENCRYPTED_ASSERTION))
    direct = [c for c in root if c.tag in (_ASSERTION, _ENCRYPTED_ASSERTION)]
    if len(everywhere) != 1 or len(direct) != 1:
        raise SamlError("AssertionCount", f"Response carries {len(everywhere)} assertions")

    response_issuer = text_of(single(root, _ISSUER, "Response Issuer"))
    response_signature = signature_of(root)
    provider: ProviderTrust | None = None
    if response_issuer is not None:
        provider = find_provider(response_issuer, root.get("InResponseTo"))
        if provider is None:
            raise SamlError("UnknownIssuer", f"no provider registered for issuer {response_issuer!r}")
    if response_signature is not None:
        if provider is None:
            raise SamlError("MalformedMessage", "signed Response has no Issuer")
        verify_enveloped(root, response_signature, provider.signing_certs_at(now), provider.allow_sha1)

    element = direct[0]
    encrypted = element.tag == _ENCRYPTED_ASSERTION
    if encrypted:
        check_encryption_algorithms(element, allow_cbc=bool(provider and provider.allow_cbc))
    try:
        element, provider, assertion_signature, issuer = _authenticate_assertion(
            root, element, encrypted, response_issuer, response_signature, provider, policy, find_provider, now
        )
    except SamlError as exc:
        if encrypted and response_signature is None:
            # Nothing authenticated the ciphertext: answer every failure after decryption alike,
            # so the reply is no oracle about the plaintext (padding, parse, issuer, signature).
            raise SamlError(
                "DecryptionFailed",
                "encrypted assertion could not be decrypted and verified",
                internal=f"{exc.code}: {exc.detail}",
            ) from None
        raise

    # From here on the assertion is authentic; check that it is meant for us, now.
    assertion = read_assertion(
        element,
        issuer=issuer,
        response_id=response_id,
        in_response_to=root.get("InResponseTo"),
        acs_url=policy.acs_url,
        sp_entity_id=policy.sp_entity_id,
        now=now,
        skew=skew,
        response_issue_instant=issue_instant,
    )
    return (
        dataclasses.replace(
            assertion,
            response_signed=response_signature is not None,
            assertion_signed=assertion_signature is not None,
            encrypted=encrypted,
            digest=hashlib.sha256(raw).hexdigest(),
        ),
        provider,
    )


def _authenticate_assertion(
    root: etree._Element,
    element: etree._Element,
    encrypted: bool,
    response_issuer: str | None,
    response_signature: etree._Element | None,
    provider: ProviderTrust | None,
    policy: AcsPolicy,
    find_provider: ProviderFinder,
    now: dt.datetime,
) -> tuple[etree._Element, ProviderTrust, etree._Element | None, str]:
    """Decrypt if needed, pin the provider by issuer and verify the assertion's own signature.

    Returns the authenticated assertion element, its provider, its own signature and its issuer.
    """
    if encrypted:
        decrypted = decrypt_assertion(element, policy.decryption_keys, allow_cbc=bool(provider and provider.allow_cbc))
        root.replace(element, decrypted)
        element = decrypted
        check_unique_ids(root)
    assertion_issuer = text_of(single(element, _ISSUER, "Assertion Issuer"))
    if assertion_issuer is None:
        raise SamlError("MalformedMessage", "Assertion has no Issuer")
    if response_issuer is not None and assertion_issuer != response_issuer:
        raise SamlError(
            "IssuerMismatch", f"Response issuer {response_issuer!r} != Assertion issuer {assertion_issuer!r}"
        )
    if provider is None:
        provider = find_provider(assertion_issuer, root.get("InResponseTo"))
        if provider is None:
            raise SamlError("UnknownIssuer", f"no provider registered for issuer {assertion_issuer!r}")
    if provider.valid_until is not None and provider.valid_until < now:
        raise SamlError(
            "ProviderExpired", f"provider {provider.name} metadata expired {provider.valid_until.isoformat()}"
        )
    assertion_signature = signature_of(element)
    if assertion_signature is not None:
        verify_enveloped(element, assertion_signature, provider.signing_certs_at(now), provider.allow_sha1)
    if response_signature is None and assertion_signature is None:
        raise SamlError("MissingSignature", "neither the Response nor the Assertion carries a signature")
    return element, provider, assertion_signature, assertion_issuer
