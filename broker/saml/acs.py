"""Assertion consumer: turns a POSTed SAMLResponse into an :class:`Assertion` or one SamlError.

Order matters: structure and limits first, then signatures (against keys pinned from the
provider's metadata), and only then is any content of the message believed. pysaml2 only
builds the object model of the verified assertion: the signature profile, destination,
recipient, audience, times, subject confirmation and assertion count are all checked here,
each with its own error code. docs/security.md ("What the ACS checks") lists every code and
the order of the checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree
from saml2 import saml as saml2_saml

from broker.saml.assertion import Assertion
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
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ISSUE_INSTANT_WINDOW = dt.timedelta(days=1)
_SAML_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", re.ASCII)


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


@dataclass(frozen=True)
class AcsPolicy:
    acs_url: str
    sp_entity_id: str
    decryption_keys: Sequence[bytes]
    clock_skew: dt.timedelta = dt.timedelta(seconds=60)
    max_bytes: int = 256 * 1024


def parse_saml_time(text: str | None, what: str) -> dt.datetime:
    match = _SAML_TIME.match((text or "").strip())
    if not match:
        raise SamlError("MalformedMessage", f"{what} is not a SAML dateTime: {text!r}")
    base, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]  # xs:dateTime allows any precision; ADFS sends 7 digits
    try:
        value = dt.datetime.fromisoformat(f"{base}{fraction.ljust(2, '0')}")
    except ValueError:  # shaped like a time but not one, e.g. February 30th
        raise SamlError("MalformedMessage", f"{what} is not a valid time: {text!r}") from None
    if zone in (None, "Z"):
        return value.replace(tzinfo=dt.UTC)
    sign = 1 if zone[0] == "+" else -1
    offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return (value - sign * offset).replace(tzinfo=dt.UTC)


def _issue_instant(element: etree._Element, what: str, now: dt.datetime, skew: dt.timedelta) -> dt.datetime:
    """The element's IssueInstant, refused unless it is at most a day old and not in the future."""
    issue_instant = parse_saml_time(element.get("IssueInstant"), f"{what} IssueInstant")
    if not now - ISSUE_INSTANT_WINDOW <= issue_instant <= now + skew:
        raise SamlError(
            "Expired" if issue_instant < now else "NotYetValid",
            f"{what} IssueInstant {issue_instant.isoformat()} is outside the accepted window",
        )
    return issue_instant


def _text(element: etree._Element | None) -> str | None:
    """All text of an element, comments skipped: lxml's ``.text`` would stop at a comment, and
    exclusive c14n ignores comments, so one inserted after signing could cut a value short."""
    if element is None:
        return None
    text = str(element.xpath("string()")).strip()
    return text or None


_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _untyped(element: etree._Element) -> etree._Element:
    """A copy without xsi:type on attribute values: the broker reads values as text, and
    pysaml2 refuses valid lexical forms such as xs:boolean "1"."""
    copy = etree.fromstring(etree.tostring(element))
    for value in copy.iter(q("saml", "AttributeValue")):
        value.attrib.pop(_XSI_TYPE, None)
    return copy


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
    if root.tag != q("samlp", "Response"):
        raise SamlError("MalformedMessage", f"expected samlp:Response, got {etree.QName(root).localname}")
    check_unique_ids(root)
    if root.get("Version") != "2.0":
        raise SamlError("MalformedMessage", f"Response Version {root.get('Version')!r} is not 2.0")
    response_id = root.get("ID")
    if not response_id:
        raise SamlError("MalformedMessage", "Response has no ID")
    issue_instant = _issue_instant(root, "Response", now, skew)
    destination = root.get("Destination")
    if destination is None:
        raise SamlError("WrongDestination", "Response has no Destination")
    if destination != policy.acs_url:
        raise SamlError("WrongDestination", f"Destination {destination!r} is not this ACS ({policy.acs_url})")

    status_code = root.find(f"{q('samlp', 'Status')}/{q('samlp', 'StatusCode')}")
    if status_code is None or status_code.get("Value") != STATUS_SUCCESS:
        top = status_code.get("Value") if status_code is not None else "missing"
        nested = status_code.find(q("samlp", "StatusCode")) if status_code is not None else None
        message = _text(root.find(f"{q('samlp', 'Status')}/{q('samlp', 'StatusMessage')}"))
        detail = f"status {top}" + (f" / {nested.get('Value')}" if nested is not None else "")
        raise SamlError("StatusNotSuccess", detail + (f": {message[:200]}" if message else ""))

    # Exactly one assertion, plain or encrypted, as a direct child; none anywhere else.
    everywhere = list(root.iter(q("saml", "Assertion"), q("saml", "EncryptedAssertion")))
    direct = [c for c in root if c.tag in (q("saml", "Assertion"), q("saml", "EncryptedAssertion"))]
    if len(everywhere) != 1 or len(direct) != 1:
        raise SamlError("AssertionCount", f"Response carries {len(everywhere)} assertions")

    response_issuer = _text(root.find(q("saml", "Issuer")))
    response_signature = signature_of(root)
    provider: ProviderTrust | None = None
    if response_issuer is not None:
        provider = find_provider(response_issuer, root.get("InResponseTo"))
        if provider is None:
            raise SamlError("UnknownIssuer", f"no provider registered for issuer {response_issuer!r}")
    if response_signature is not None:
        if provider is None:
            raise SamlError("MalformedMessage", "signed Response has no Issuer")
        verify_enveloped(root, response_signature, provider.signing_certs, provider.allow_sha1)

    element = direct[0]
    encrypted = element.tag == q("saml", "EncryptedAssertion")
    if encrypted:
        check_encryption_algorithms(element, allow_cbc=bool(provider and provider.allow_cbc))
    try:
        element, provider, assertion_signature = _authenticate_assertion(
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
    assertion = _read_assertion(element, root, response_id, policy, now, issue_instant)
    return (
        Assertion(
            **{
                **assertion.__dict__,
                "response_signed": response_signature is not None,
                "assertion_signed": assertion_signature is not None,
                "encrypted": encrypted,
                "digest": hashlib.sha256(raw).hexdigest(),
            }
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
) -> tuple[etree._Element, ProviderTrust, etree._Element | None]:
    """Decrypt if needed, pin the provider by issuer and verify the assertion's own signature."""
    if encrypted:
        decrypted = decrypt_assertion(element, policy.decryption_keys, allow_cbc=bool(provider and provider.allow_cbc))
        root.replace(element, decrypted)
        element = decrypted
        check_unique_ids(root)
    assertion_issuer = _text(element.find(q("saml", "Issuer")))
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
        verify_enveloped(element, assertion_signature, provider.signing_certs, provider.allow_sha1)
    if response_signature is None and assertion_signature is None:
        raise SamlError("MissingSignature", "neither the Response nor the Assertion carries a signature")
    return element, provider, assertion_signature


def _read_assertion(
    element: etree._Element,
    root: etree._Element,
    response_id: str,
    policy: AcsPolicy,
    now: dt.datetime,
    response_issue_instant: dt.datetime,
) -> Assertion:
    skew = policy.clock_skew
    assertion_id = element.get("ID") or ""
    if element.get("Version") != "2.0":
        raise SamlError("MalformedMessage", "Assertion Version is not 2.0")
    issue_instant = _issue_instant(element, "Assertion", now, skew)
    in_response_to = root.get("InResponseTo")

    subject = element.find(q("saml", "Subject"))
    if subject is None:
        raise SamlError("MissingSubject", "Assertion has no Subject")
    confirmations = subject.findall(q("saml", "SubjectConfirmation"))
    bearer = [c for c in confirmations if c.get("Method") == BEARER]
    if len(bearer) != 1:
        raise SamlError("SubjectConfirmation", f"expected one bearer SubjectConfirmation, found {len(bearer)}")
    data = bearer[0].find(q("saml", "SubjectConfirmationData"))
    if data is None:
        raise SamlError("SubjectConfirmation", "SubjectConfirmation has no SubjectConfirmationData")
    recipient = data.get("Recipient")
    if recipient is None:
        raise SamlError("WrongRecipient", "SubjectConfirmationData has no Recipient")
    if recipient != policy.acs_url:
        raise SamlError("WrongRecipient", f"Recipient {recipient!r} is not this ACS ({policy.acs_url})")
    if data.get("NotOnOrAfter") is None:
        raise SamlError("SubjectConfirmation", "SubjectConfirmationData has no NotOnOrAfter")
    confirmation_expiry = parse_saml_time(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
    if confirmation_expiry <= now - skew:
        raise SamlError("Expired", f"SubjectConfirmationData expired at {confirmation_expiry.isoformat()}")
    if data.get("NotBefore") is not None:
        raise SamlError("SubjectConfirmation", "bearer SubjectConfirmationData must not carry NotBefore")
    confirmation_irt = data.get("InResponseTo")
    if confirmation_irt is not None and confirmation_irt != in_response_to:
        raise SamlError("SubjectConfirmation", "SubjectConfirmationData InResponseTo differs from the Response's")
    if in_response_to is not None and confirmation_irt is None:
        raise SamlError("SubjectConfirmation", "Response answers a request but SubjectConfirmationData does not")

    conditions = element.find(q("saml", "Conditions"))
    if conditions is None:
        raise SamlError("WrongAudience", "Assertion has no Conditions (and so no AudienceRestriction)")
    not_on_or_after = confirmation_expiry
    if conditions.get("NotBefore") is not None:
        not_before = parse_saml_time(conditions.get("NotBefore"), "Conditions NotBefore")
        if not_before > now + skew:
            raise SamlError("NotYetValid", f"Conditions NotBefore {not_before.isoformat()} is in the future")
    if conditions.get("NotOnOrAfter") is not None:
        conditions_expiry = parse_saml_time(conditions.get("NotOnOrAfter"), "Conditions NotOnOrAfter")
        if conditions_expiry <= now - skew:
            raise SamlError("Expired", f"Conditions NotOnOrAfter {conditions_expiry.isoformat()} has passed")
        not_on_or_after = min(not_on_or_after, conditions_expiry)
    restrictions = conditions.findall(q("saml", "AudienceRestriction"))
    if not restrictions:
        raise SamlError("WrongAudience", "Assertion has no AudienceRestriction")
    audiences: list[str] = []
    for restriction in restrictions:
        values = [_text(a) or "" for a in restriction.findall(q("saml", "Audience"))]
        audiences.extend(values)
        if policy.sp_entity_id not in values:
            raise SamlError("WrongAudience", f"audiences {values} do not include {policy.sp_entity_id}")

    # pysaml2 gives the object model; ElementTree drops comments and joins the text around them,
    # so a NameID of "alice@evil.com<!---->.example.org" reads in full, never as a prefix.
    try:
        model = saml2_saml.assertion_from_string(etree.tostring(_untyped(element)))
    except (ValueError, TypeError, SyntaxError) as exc:
        raise SamlError("MalformedMessage", f"Assertion does not parse: {type(exc).__name__}") from None
    if model is None or model.subject is None or model.subject.name_id is None:
        raise SamlError("MissingSubject", "Assertion Subject has no NameID")
    name_id = (model.subject.name_id.text or "").strip()
    if not name_id:
        raise SamlError("MissingSubject", "Assertion NameID is empty")

    attributes: dict[str, list[str]] = {}
    friendly: dict[str, str] = {}
    for statement in model.attribute_statement:
        for attribute in statement.attribute:
            values = attributes.setdefault(attribute.name, [])
            for value in attribute.attribute_value:
                text = value.text
                if not (text or "").strip() and value.extension_elements:
                    text = value.extension_elements[0].text  # e.g. a NameID inside eduPersonTargetedID
                values.append((text or "").strip())
            if attribute.friendly_name:
                friendly[attribute.name] = attribute.friendly_name

    class_refs: list[str] = []
    authn_instant = session_end = None
    if not model.authn_statement:
        raise SamlError("MalformedMessage", "Assertion has no AuthnStatement")
    for statement in model.authn_statement:
        if statement.authn_instant:
            authn_instant = parse_saml_time(statement.authn_instant, "AuthnInstant")
        if statement.session_not_on_or_after:
            end = parse_saml_time(statement.session_not_on_or_after, "SessionNotOnOrAfter")
            session_end = end if session_end is None else min(session_end, end)
        context = statement.authn_context
        if context is not None and context.authn_context_class_ref is not None:
            class_refs.append((context.authn_context_class_ref.text or "").strip())
    if session_end is not None and session_end <= now - skew:
        raise SamlError("Expired", f"SessionNotOnOrAfter {session_end.isoformat()} has passed")

    return Assertion(
        issuer=(model.issuer.text or "").strip(),
        assertion_id=assertion_id,
        response_id=response_id,
        in_response_to=in_response_to,
        subject=name_id,
        name_id_format=model.subject.name_id.format,
        recipient=recipient,
        audiences=tuple(audiences),
        not_on_or_after=not_on_or_after,
        issue_instant=min(issue_instant, response_issue_instant),
        attributes=attributes,
        friendly_names=friendly,
        authn_context_class_refs=tuple(class_refs),
        authn_instant=authn_instant,
        session_not_on_or_after=session_end,
    )
