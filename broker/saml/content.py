"""What an authenticated assertion says, read straight from the tree whose signature verified.

The ACS hands this module the very ``saml:Assertion`` element a signature covers (its own, or
the Response's); nothing here parses XML again or follows a reference. Elements are looked up
as direct children only, so nothing outside the signed element (and nothing nested where the
schema puts no such element) is ever read.

Text is read with comments skipped and the text around them joined: exclusive c14n ignores
comments, so one inserted after signing must not cut a NameID, an attribute value, an issuer
or an audience short (``alice@evil.example<!---->.corp`` reads in full). Attribute values are
read as text; an ``xsi:type`` on them is ignored rather than interpreted.
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from broker.saml.assertion import Assertion
from broker.saml.errors import SamlError
from broker.saml.xmlsafe import q

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ISSUE_INSTANT_WINDOW = dt.timedelta(days=1)
_MOST_OFFSET = dt.timedelta(hours=14)
_SAML_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", re.ASCII)

_SUBJECT = q("saml", "Subject")
_NAME_ID = q("saml", "NameID")
_CONFIRMATION = q("saml", "SubjectConfirmation")
_CONFIRMATION_DATA = q("saml", "SubjectConfirmationData")
_CONDITIONS = q("saml", "Conditions")
_AUDIENCE_RESTRICTION = q("saml", "AudienceRestriction")
# OneTimeUse: the replay guard accepts an assertion once anyway; ProxyRestriction: the broker
# issues no assertions of its own, so it never proxies one.
_UNDERSTOOD_CONDITIONS = frozenset({_AUDIENCE_RESTRICTION, q("saml", "OneTimeUse"), q("saml", "ProxyRestriction")})
_AUDIENCE = q("saml", "Audience")
_ATTRIBUTE_STATEMENT = q("saml", "AttributeStatement")
_ATTRIBUTE = q("saml", "Attribute")
_ATTRIBUTE_VALUE = q("saml", "AttributeValue")
_AUTHN_STATEMENT = q("saml", "AuthnStatement")
_AUTHN_CONTEXT = q("saml", "AuthnContext")
_AUTHN_CONTEXT_CLASS_REF = q("saml", "AuthnContextClassRef")


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
    if offset > _MOST_OFFSET or int(zone[4:6]) > 59:  # xs:dateTime: -14:00 to +14:00
        raise SamlError("MalformedMessage", f"{what} has an impossible time zone: {text!r}")
    try:
        return (value - sign * offset).replace(tzinfo=dt.UTC)
    except OverflowError:  # a time at the calendar's edge that its zone moves past it
        raise SamlError("MalformedMessage", f"{what} is out of range: {text!r}") from None


def issue_instant(element: etree._Element, what: str, now: dt.datetime, skew: dt.timedelta) -> dt.datetime:
    """The element's IssueInstant, refused unless it is at most a day old and not in the future."""
    instant = parse_saml_time(element.get("IssueInstant"), f"{what} IssueInstant")
    if not now - ISSUE_INSTANT_WINDOW <= instant <= now + skew:
        raise SamlError(
            "Expired" if instant < now else "NotYetValid",
            f"{what} IssueInstant {instant.isoformat()} is outside the accepted window",
        )
    return instant


def text_of(element: etree._Element | None) -> str | None:
    """All text of an element and its descendants, comments skipped, stripped; None when empty."""
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def own_text(element: etree._Element) -> str:
    """The element's own text up to its first child element, comments skipped and the text
    around them joined (what an object model built without comments holds as ``text``)."""
    parts = [element.text or ""]
    for child in element:
        if child.tag is not etree.Comment:
            break
        parts.append(child.tail or "")
    return "".join(parts)


def single(parent: etree._Element, tag: str, what: str) -> etree._Element | None:
    """The one ``tag`` child of ``parent`` (None if absent); the schema allows at most one."""
    found = parent.findall(tag)
    if len(found) > 1:
        raise SamlError("MalformedMessage", f"{what} occurs {len(found)} times")
    return found[0] if found else None


def read_assertion(
    element: etree._Element,
    *,
    issuer: str,
    response_id: str,
    in_response_to: str | None,
    acs_url: str,
    sp_entity_id: str,
    now: dt.datetime,
    skew: dt.timedelta,
    response_issue_instant: dt.datetime,
) -> Assertion:
    """Check that the authenticated ``element`` is meant for this SP, now, and read it."""
    if element.get("Version") != "2.0":
        raise SamlError("MalformedMessage", "Assertion Version is not 2.0")
    # saml-core 2.3.3: ID is required, and the replay guard keys on it (one "" would block them all).
    if not element.get("ID"):
        raise SamlError("MalformedMessage", "Assertion has no ID")
    assertion_issued = issue_instant(element, "Assertion", now, skew)

    subject = single(element, _SUBJECT, "Assertion Subject")
    if subject is None:
        raise SamlError("MissingSubject", "Assertion has no Subject")
    recipient, confirmation_expiry = _bearer_confirmation(subject, in_response_to, acs_url, now, skew)
    not_on_or_after, audiences = _conditions(element, sp_entity_id, now, skew, confirmation_expiry)

    name_id_element = single(subject, _NAME_ID, "Subject NameID")
    if name_id_element is None:
        raise SamlError("MissingSubject", "Assertion Subject has no NameID")
    name_id = own_text(name_id_element).strip()
    if not name_id:
        raise SamlError("MissingSubject", "Assertion NameID is empty")

    attributes, friendly = _attributes(element)
    class_refs, authn_instant, session_end = _authn_statements(element)
    if session_end is not None and session_end <= now - skew:
        raise SamlError("Expired", f"SessionNotOnOrAfter {session_end.isoformat()} has passed")

    return Assertion(
        issuer=issuer,
        assertion_id=element.get("ID") or "",
        response_id=response_id,
        in_response_to=in_response_to,
        subject=name_id,
        name_id_format=name_id_element.get("Format"),
        recipient=recipient,
        audiences=audiences,
        not_on_or_after=not_on_or_after,
        issue_instant=min(assertion_issued, response_issue_instant),
        attributes=attributes,
        friendly_names=friendly,
        authn_context_class_refs=class_refs,
        authn_instant=authn_instant,
        session_not_on_or_after=session_end,
    )


def _bearer_confirmation(
    subject: etree._Element, in_response_to: str | None, acs_url: str, now: dt.datetime, skew: dt.timedelta
) -> tuple[str, dt.datetime]:
    """The one bearer SubjectConfirmation's Recipient and NotOnOrAfter, after every check on it."""
    bearer = [c for c in subject.iterchildren(_CONFIRMATION) if c.get("Method") == BEARER]
    if len(bearer) != 1:
        raise SamlError("SubjectConfirmation", f"expected one bearer SubjectConfirmation, found {len(bearer)}")
    data = single(bearer[0], _CONFIRMATION_DATA, "SubjectConfirmationData")
    if data is None:
        raise SamlError("SubjectConfirmation", "SubjectConfirmation has no SubjectConfirmationData")
    recipient = data.get("Recipient")
    if recipient is None:
        raise SamlError("WrongRecipient", "SubjectConfirmationData has no Recipient")
    if recipient != acs_url:
        raise SamlError("WrongRecipient", f"Recipient {recipient!r} is not this ACS ({acs_url})")
    if data.get("NotOnOrAfter") is None:
        raise SamlError("SubjectConfirmation", "SubjectConfirmationData has no NotOnOrAfter")
    expiry = parse_saml_time(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
    if expiry <= now - skew:
        raise SamlError("Expired", f"SubjectConfirmationData expired at {expiry.isoformat()}")
    if data.get("NotBefore") is not None:
        raise SamlError("SubjectConfirmation", "bearer SubjectConfirmationData must not carry NotBefore")
    confirmation_irt = data.get("InResponseTo")
    if confirmation_irt is not None and confirmation_irt != in_response_to:
        raise SamlError("SubjectConfirmation", "SubjectConfirmationData InResponseTo differs from the Response's")
    if in_response_to is not None and confirmation_irt is None:
        raise SamlError("SubjectConfirmation", "Response answers a request but SubjectConfirmationData does not")
    return recipient, expiry


def _conditions(
    element: etree._Element, sp_entity_id: str, now: dt.datetime, skew: dt.timedelta, not_on_or_after: dt.datetime
) -> tuple[dt.datetime, tuple[str, ...]]:
    """The assertion's expiry (the earlier of Conditions and confirmation) and its audiences."""
    conditions = single(element, _CONDITIONS, "Assertion Conditions")
    if conditions is None:
        raise SamlError("WrongAudience", "Assertion has no Conditions (and so no AudienceRestriction)")
    # saml-core 2.5.1.1: a condition the relying party does not understand leaves the assertion's
    # validity indeterminate, so it is not accepted.
    for condition in conditions.iterchildren(etree.Element):
        if condition.tag not in _UNDERSTOOD_CONDITIONS:
            raise SamlError("MalformedMessage", f"Conditions holds a condition this SP does not know: {condition.tag}")
    if conditions.get("NotBefore") is not None:
        not_before = parse_saml_time(conditions.get("NotBefore"), "Conditions NotBefore")
        if not_before > now + skew:
            raise SamlError("NotYetValid", f"Conditions NotBefore {not_before.isoformat()} is in the future")
    if conditions.get("NotOnOrAfter") is not None:
        conditions_expiry = parse_saml_time(conditions.get("NotOnOrAfter"), "Conditions NotOnOrAfter")
        if conditions_expiry <= now - skew:
            raise SamlError("Expired", f"Conditions NotOnOrAfter {conditions_expiry.isoformat()} has passed")
        not_on_or_after = min(not_on_or_after, conditions_expiry)
    restrictions = conditions.findall(_AUDIENCE_RESTRICTION)
    if not restrictions:
        raise SamlError("WrongAudience", "Assertion has no AudienceRestriction")
    audiences: list[str] = []
    for restriction in restrictions:
        values = [text_of(a) or "" for a in restriction.iterchildren(_AUDIENCE)]
        audiences.extend(values)
        if sp_entity_id not in values:
            raise SamlError("WrongAudience", f"audiences {values} do not include {sp_entity_id}")
    return not_on_or_after, tuple(audiences)


def _attributes(element: etree._Element) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Attribute values by name, in document order (the same name twice merges), and friendly names."""
    attributes: dict[str, list[str]] = {}
    friendly: dict[str, str] = {}
    for statement in element.iterchildren(_ATTRIBUTE_STATEMENT):
        for attribute in statement.iterchildren(_ATTRIBUTE):
            name = attribute.get("Name")
            if name is None:
                raise SamlError("MalformedMessage", "Attribute has no Name")
            values = attributes.setdefault(name, [])
            for value in attribute.iterchildren(_ATTRIBUTE_VALUE):
                text = own_text(value)
                if not text.strip():
                    # A value held in an element, e.g. the NameID inside eduPersonTargetedID.
                    inner = next(value.iterchildren(etree.Element), None)
                    if inner is not None:
                        text = own_text(inner)
                values.append(text.strip())
            friendly_name = attribute.get("FriendlyName")
            if friendly_name:
                friendly[name] = friendly_name
    return attributes, friendly


def _authn_statements(
    element: etree._Element,
) -> tuple[tuple[str, ...], dt.datetime | None, dt.datetime | None]:
    """AuthnContextClassRefs, the AuthnInstant and the earliest SessionNotOnOrAfter."""
    statements = element.findall(_AUTHN_STATEMENT)
    if not statements:
        raise SamlError("MalformedMessage", "Assertion has no AuthnStatement")
    class_refs: list[str] = []
    authn_instant = session_end = None
    for statement in statements:
        if statement.get("AuthnInstant"):
            authn_instant = parse_saml_time(statement.get("AuthnInstant"), "AuthnInstant")
        if statement.get("SessionNotOnOrAfter"):
            end = parse_saml_time(statement.get("SessionNotOnOrAfter"), "SessionNotOnOrAfter")
            session_end = end if session_end is None else min(session_end, end)
        context = single(statement, _AUTHN_CONTEXT, "AuthnContext")
        class_ref = single(context, _AUTHN_CONTEXT_CLASS_REF, "AuthnContextClassRef") if context is not None else None
        if class_ref is not None:
            class_refs.append(own_text(class_ref).strip())
    return tuple(class_refs), authn_instant, session_end
