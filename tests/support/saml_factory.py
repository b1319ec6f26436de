"""Build SAML 2.0 Responses the way an identity provider sends them, for ACS tests.

``ResponseOptions`` describes one Response; every field can be changed, and every optional
field can be left out (``None``). ``build_response`` turns the options into an lxml tree,
signing the assertion and/or the response with ``broker.saml.xmldsig.sign_enveloped`` and
encrypting the (already signed) assertion when asked; ``response_b64`` gives the base64 text an
IdP would POST as ``SAMLResponse``. The helpers at the bottom (``decode``, ``encode``, ``one``,
``insert_comment`` ...) mutate a built, signed document afterwards, for tampering and
signature-wrapping attacks.

Times are ``dt.timedelta`` offsets from ``ResponseOptions.now``, absolute ``dt.datetime``
values, or literal strings (to send what a given IdP sends, e.g. ADFS's 7-digit fractions).

Text values may contain XML comments written inline (``"alice@evil.example<!---->.corp"``):
they become real comment nodes, so the document carries exactly what an attacker would send.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import xmlsec
from lxml import etree

from broker.saml.xmldsig import encrypt_assertion, sign_enveloped

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS, "xenc": XENC, "xs": XS, "xsi": XSI}

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
AC_PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

IDP_ENTITY_ID = "https://idp.corp.example/saml2/idp/metadata"
SP_ENTITY_ID = "https://broker.example/saml/metadata"
ACS_URL = "https://broker.example/saml/acs"
REQUEST_ID = "_req-6c1d2b7f9a0e4e1c8f3a"
RESPONSE_ID = "_resp-4d2f0c6e8b1a4f7e9c3d"
ASSERTION_ID = "_assert-9b8a7c6d5e4f3a2b1c0d"

AWS_ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
AWS_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
OID_MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
OID_EDUPERSON_AFFILIATION = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"
OID_EDUPERSON_TARGETED_ID = "urn:oid:1.3.6.1.4.1.5923.1.1.1.10"

Time = dt.timedelta | dt.datetime | str | None
"""An offset from ``now``, an absolute time, literal text, or ``None`` to leave the field out."""


class Inherit(enum.Enum):
    """Marker for 'take the value from the Response' (e.g. SubjectConfirmationData InResponseTo)."""

    INHERIT = "inherit"


INHERIT = Inherit.INHERIT

DataEncryption = Literal["aes256-gcm", "aes128-gcm", "aes128-cbc", "aes256-cbc"]
KeyTransport = Literal["rsa-oaep-mgf1p", "rsa-1_5"]


@dataclass(frozen=True)
class Signer:
    """Who signs: a key, the certificate xmlsec puts in KeyInfo, and the algorithms."""

    key_pem: bytes
    cert_pem: bytes
    algorithm: str = RSA_SHA256
    digest: str = SHA256


@dataclass(frozen=True)
class NameIdValue:
    """A saml:NameID as an attribute value (eduPersonTargetedID style)."""

    text: str
    format: str | None = NAMEID_PERSISTENT
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None


@dataclass(frozen=True)
class Attr:
    name: str
    values: tuple[str | NameIdValue, ...]
    name_format: str | None = ATTRNAME_URI
    friendly_name: str | None = None
    xsi_type: str | None = "xs:string"
    """Put on plain-text values only; ``None`` leaves xsi:type out."""


@dataclass(frozen=True)
class Confirmation:
    """One saml:SubjectConfirmation (``data=False`` leaves out SubjectConfirmationData)."""

    method: str | None = BEARER
    data: bool = True
    recipient: str | None = ACS_URL
    not_on_or_after: Time = dt.timedelta(minutes=5)
    not_before: Time = None
    in_response_to: str | Inherit | None = INHERIT
    address: str | None = None


@dataclass(frozen=True)
class Encryption:
    """How to encrypt the assertion to ``cert_pem`` (the SP's encryption certificate).

    ``aes256-gcm`` with RSA-OAEP goes through ``broker.saml.xmldsig.encrypt_assertion`` as the
    broker's own code would; other choices build an xmlsec template here.
    """

    cert_pem: bytes
    data: DataEncryption = "aes256-gcm"
    key_transport: KeyTransport = "rsa-oaep-mgf1p"


DEFAULT_ATTRIBUTES: tuple[Attr, ...] = (
    Attr(
        AWS_ROLE,
        (
            "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/Corp",
            "arn:aws:iam::123456789012:role/ReadOnly,arn:aws:iam::123456789012:saml-provider/Corp",
        ),
    ),
    Attr(AWS_SESSION_NAME, ("alice@corp.example",)),
    Attr(OID_MAIL, ("alice@corp.example",), friendly_name="mail"),
    Attr(OID_EDUPERSON_AFFILIATION, ("member", "staff", "employee"), friendly_name="eduPersonAffiliation"),
    Attr("groups", ("engineering", "on-call"), name_format=ATTRNAME_BASIC, xsi_type=None),
)


@dataclass(frozen=True)
class ResponseOptions:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # samlp:Response
    response_id: str | None = RESPONSE_ID
    version: str | None = "2.0"
    issue_instant: Time = dt.timedelta(0)
    destination: str | None = ACS_URL
    in_response_to: str | None = REQUEST_ID
    issuer: str | None = IDP_ENTITY_ID
    status_code: str | None = STATUS_SUCCESS
    """``None`` leaves out samlp:Status altogether."""
    nested_status_code: str | None = None
    status_message: str | None = None

    # saml:Assertion
    include_assertion: bool = True
    assertion_id: str | None = ASSERTION_ID
    assertion_version: str | None = "2.0"
    assertion_issue_instant: Time = dt.timedelta(0)
    assertion_issuer: str | None = IDP_ENTITY_ID

    # saml:Subject
    subject: bool = True
    name_id: str | None = "alice@corp.example"
    name_id_format: str | None = NAMEID_EMAIL
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None
    confirmations: tuple[Confirmation, ...] = (Confirmation(),)

    # saml:Conditions (``conditions=False`` leaves the element out)
    conditions: bool = True
    not_before: Time = dt.timedelta(minutes=-5)
    not_on_or_after: Time = dt.timedelta(minutes=5)
    audience_restrictions: tuple[tuple[str, ...], ...] = ((SP_ENTITY_ID,),)
    """One tuple of Audience values per AudienceRestriction; ``()`` for none."""

    # saml:AuthnStatement (``authn_statement=False`` leaves it out)
    authn_statement: bool = True
    authn_instant: Time = dt.timedelta(minutes=-1)
    session_not_on_or_after: Time = dt.timedelta(hours=8)
    session_index: str | None = "_session-1f2e3d4c"
    authn_context_class_ref: str | None = AC_PASSWORD_PROTECTED

    # saml:AttributeStatement (left out when there are no attributes)
    attributes: tuple[Attr, ...] = DEFAULT_ATTRIBUTES

    # What to do before signing, and the cryptography.
    before_signing: Callable[[etree._Element], None] | None = None
    """Called with the Response tree (assertion still plain) before anything is signed."""
    sign_assertion: Signer | None = None
    encrypt: Encryption | None = None
    sign_response: Signer | None = None


# ---------------------------------------------------------------------------------------------
# Building


def saml_time(value: dt.datetime) -> str:
    """The form most IdPs send: UTC, whole seconds, ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Time, now: dt.datetime) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.timedelta):
        return saml_time(now + value)
    return saml_time(value)


def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)


def set_text(element: etree._Element, text: str) -> None:
    """Set ``element``'s text; each inline ``<!--...-->`` in ``text`` becomes a comment node."""
    parts = _COMMENT.split(text)
    element.text = parts[0] or None
    for index in range(1, len(parts), 2):
        comment = etree.Comment(parts[index])
        comment.tail = parts[index + 1] or None
        element.append(comment)


def _sub(
    parent: etree._Element, prefix: str, local: str, text: str | None = None, **attributes: str | None
) -> etree._Element:
    child = etree.SubElement(parent, _q(prefix, local))
    for name, value in attributes.items():
        if value is not None:
            child.set(name, value)
    if text is not None:
        set_text(child, text)
    return child


def _name_id(
    parent: etree._Element, text: str, fmt: str | None, name_qualifier: str | None, sp_name_qualifier: str | None
) -> etree._Element:
    return _sub(
        parent, "saml", "NameID", text, NameQualifier=name_qualifier, SPNameQualifier=sp_name_qualifier, Format=fmt
    )


def _build_assertion(o: ResponseOptions) -> etree._Element:
    now = o.now
    assertion = etree.Element(_q("saml", "Assertion"), nsmap={"saml": SAML, "xs": XS, "xsi": XSI})
    for name, value in (
        ("ID", o.assertion_id),
        ("Version", o.assertion_version),
        ("IssueInstant", _time(o.assertion_issue_instant, now)),
    ):
        if value is not None:
            assertion.set(name, value)
    if o.assertion_issuer is not None:
        _sub(assertion, "saml", "Issuer", o.assertion_issuer)

    if o.subject:
        subject = _sub(assertion, "saml", "Subject")
        if o.name_id is not None:
            _name_id(subject, o.name_id, o.name_id_format, o.name_qualifier, o.sp_name_qualifier)
        for confirmation in o.confirmations:
            element = _sub(subject, "saml", "SubjectConfirmation", Method=confirmation.method)
            if confirmation.data:
                irt = o.in_response_to if confirmation.in_response_to is INHERIT else confirmation.in_response_to
                assert not isinstance(irt, Inherit)
                _sub(
                    element,
                    "saml",
                    "SubjectConfirmationData",
                    NotBefore=_time(confirmation.not_before, now),
                    NotOnOrAfter=_time(confirmation.not_on_or_after, now),
                    Recipient=confirmation.recipient,
                    InResponseTo=irt,
                    Address=confirmation.address,
                )

    if o.conditions:
        conditions = _sub(
            assertion,
            "saml",
            "Conditions",
            NotBefore=_time(o.not_before, now),
            NotOnOrAfter=_time(o.not_on_or_after, now),
        )
        for audiences in o.audience_restrictions:
            restriction = _sub(conditions, "saml", "AudienceRestriction")
            for audience in audiences:
                _sub(restriction, "saml", "Audience", audience)

    if o.authn_statement:
        statement = _sub(
            assertion,
            "saml",
            "AuthnStatement",
            AuthnInstant=_time(o.authn_instant, now),
            SessionNotOnOrAfter=_time(o.session_not_on_or_after, now),
            SessionIndex=o.session_index,
        )
        context = _sub(statement, "saml", "AuthnContext")
        if o.authn_context_class_ref is not None:
            _sub(context, "saml", "AuthnContextClassRef", o.authn_context_class_ref)

    if o.attributes:
        statement = _sub(assertion, "saml", "AttributeStatement")
        for attr in o.attributes:
            attribute = _sub(
                statement,
                "saml",
                "Attribute",
                Name=attr.name,
                NameFormat=attr.name_format,
                FriendlyName=attr.friendly_name,
            )
            for item in attr.values:
                holder = _sub(attribute, "saml", "AttributeValue")
                if isinstance(item, NameIdValue):
                    _name_id(holder, item.text, item.format, item.name_qualifier, item.sp_name_qualifier)
                else:
                    if attr.xsi_type is not None:
                        holder.set(_q("xsi", "type"), attr.xsi_type)
                    set_text(holder, item)
    return assertion


def _build_response_shell(o: ResponseOptions) -> etree._Element:
    response = etree.Element(_q("samlp", "Response"), nsmap={"samlp": SAMLP, "saml": SAML})
    for name, value in (
        ("ID", o.response_id),
        ("Version", o.version),
        ("IssueInstant", _time(o.issue_instant, o.now)),
        ("Destination", o.destination),
        ("InResponseTo", o.in_response_to),
    ):
        if value is not None:
            response.set(name, value)
    if o.issuer is not None:
        _sub(response, "saml", "Issuer", o.issuer, Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity")
    if o.status_code is not None:
        status = _sub(response, "samlp", "Status")
        code = _sub(status, "samlp", "StatusCode", Value=o.status_code)
        if o.nested_status_code is not None:
            _sub(code, "samlp", "StatusCode", Value=o.nested_status_code)
        if o.status_message is not None:
            _sub(status, "samlp", "StatusMessage", o.status_message)
    return response


def build_response(options: ResponseOptions) -> etree._Element:
    """The Response tree: assertion signed, then encrypted, then the Response signed (as asked)."""
    response = _build_response_shell(options)
    if options.include_assertion:
        response.append(_build_assertion(options))
    if options.before_signing is not None:
        options.before_signing(response)
    assertion = response.find(_q("saml", "Assertion"))
    if options.sign_assertion is not None:
        if assertion is None:
            raise ValueError("sign_assertion needs an assertion")
        sign(assertion, options.sign_assertion)
    if options.encrypt is not None:
        if assertion is None:
            raise ValueError("encrypt needs an assertion")
        encrypt(assertion, options.encrypt)
    if options.sign_response is not None:
        sign(response, options.sign_response)
    return response


def response_b64(options: ResponseOptions) -> str:
    return encode(build_response(options))


def sign(element: etree._Element, signer: Signer) -> etree._Element:
    """Enveloped signature over ``element`` (in its tree), placed after its Issuer."""
    return sign_enveloped(element, signer.key_pem, signer.cert_pem, algorithm=signer.algorithm, digest=signer.digest)


_DATA_TRANSFORMS = {
    "aes128-gcm": xmlsec.constants.TransformAes128Gcm,
    "aes256-gcm": xmlsec.constants.TransformAes256Gcm,
    "aes128-cbc": xmlsec.constants.TransformAes128Cbc,
    "aes256-cbc": xmlsec.constants.TransformAes256Cbc,
}
_KEY_SIZES = {"aes128-gcm": 128, "aes256-gcm": 256, "aes128-cbc": 128, "aes256-cbc": 256}
_KEY_TRANSPORTS = {
    "rsa-oaep-mgf1p": xmlsec.constants.TransformRsaOaep,
    "rsa-1_5": xmlsec.constants.TransformRsaPkcs1,
}


def encrypt(assertion: etree._Element, encryption: Encryption) -> etree._Element:
    """Replace ``assertion`` in its tree by a saml:EncryptedAssertion; returns the wrapper."""
    if encryption.data == "aes256-gcm" and encryption.key_transport == "rsa-oaep-mgf1p":
        return encrypt_assertion(assertion, encryption.cert_pem)
    parent = assertion.getparent()
    wrapper = etree.Element(_q("saml", "EncryptedAssertion"), nsmap={"saml": SAML})
    if parent is not None:
        parent.replace(assertion, wrapper)
    wrapper.append(assertion)
    template = xmlsec.template.encrypted_data_create(
        wrapper, _DATA_TRANSFORMS[encryption.data], type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, _KEY_TRANSPORTS[encryption.key_transport])
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(encryption.cert_pem, xmlsec.constants.KeyDataFormatCertPem))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, _KEY_SIZES[encryption.data], xmlsec.constants.KeyDataTypeSession
    )
    ctx.encrypt_xml(template, assertion)
    return wrapper


def encrypted_plaintext(plaintext: bytes, cert_pem: bytes, data: DataEncryption = "aes256-gcm") -> etree._Element:
    """A saml:EncryptedAssertion (not in any tree) whose ciphertext decrypts to exactly ``plaintext``.

    Anyone holding the SP's public encryption certificate can make one, so the bytes inside are as
    hostile as the rest of the message: DTDs, entities, several roots, no assertion at all.
    """
    wrapper = etree.Element(_q("saml", "EncryptedAssertion"), nsmap={"saml": SAML})
    template = xmlsec.template.encrypted_data_create(
        wrapper, _DATA_TRANSFORMS[data], type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    wrapper.append(template)
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, _KEY_SIZES[data], xmlsec.constants.KeyDataTypeSession)
    ctx.encrypt_binary(template, plaintext)
    return wrapper


# ---------------------------------------------------------------------------------------------
# Reading and mutating a built document (after signing, for attacks)


def encode(root: etree._Element, xml_declaration: bool = True) -> str:
    """Serialize as an IdP would POST it: UTF-8 XML, base64."""
    data = etree.tostring(root, xml_declaration=xml_declaration, encoding="UTF-8")
    return base64.b64encode(data).decode("ascii")


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode(saml_response: str) -> etree._Element:
    """Parse a base64 SAMLResponse back into a tree (trusted test data only)."""
    return etree.fromstring(base64.b64decode(saml_response))


def all_of(root: etree._Element, path: str) -> list[etree._Element]:
    """Elements matching an XPath written with the prefixes of ``NS``."""
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [node for node in found if isinstance(node, etree._Element)]


def one(root: etree._Element, path: str) -> etree._Element:
    """The single element matching ``path`` (an XPath with the ``NS`` prefixes)."""
    found = all_of(root, path)
    if len(found) != 1:
        raise AssertionError(f"{path} matched {len(found)} elements")
    return found[0]


def insert_comment(element: etree._Element, at: int, comment: str = "") -> None:
    """Split ``element``'s leading text at character ``at`` with ``<!--comment-->``.

    Exclusive canonicalization drops comments, so this leaves a signature intact: the classic
    comment-truncation attack on NameIDs and attribute values.
    """
    text = element.text or ""
    node = etree.Comment(comment)
    node.tail = text[at:] + (node.tail or "")
    element.text = text[:at] or None
    element.insert(0, node)


def replace_text(element: etree._Element, text: str) -> None:
    """Replace all text content of ``element`` (drops child comments too)."""
    for child in list(element):
        if isinstance(child, etree._Comment):
            element.remove(child)
    set_text(element, text)


def signature_of(element: etree._Element) -> etree._Element:
    """The enveloped ds:Signature child of ``element``."""
    return one(element, "ds:Signature")


def set_key_info_certificate(signature: etree._Element, cert_pem: bytes) -> None:
    """Make the signature's KeyInfo carry ``cert_pem`` (it is not covered by the signature)."""
    cert = one(signature, "ds:KeyInfo/ds:X509Data/ds:X509Certificate")
    body = b"".join(line for line in cert_pem.splitlines() if not line.startswith(b"-----"))
    cert.text = body.decode("ascii")


def detach(element: etree._Element) -> etree._Element:
    """Remove ``element`` from its parent (keeping nothing of its tail) and return it."""
    parent = element.getparent()
    if parent is None:
        raise ValueError("element has no parent")
    parent.remove(element)
    return element


def clone(element: etree._Element) -> etree._Element:
    return copy.deepcopy(element)


def serialized_replace(saml_response: str, old: str, new: str) -> str:
    """Textual find-and-replace on the decoded XML (for byte-level attacks), re-encoded."""
    text = base64.b64decode(saml_response).decode("utf-8")
    if old not in text:
        raise AssertionError(f"{old!r} not in the document")
    return encode_bytes(text.replace(old, new, 1).encode("utf-8"))
