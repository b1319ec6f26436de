"""Proof that the test-support fixtures work: a real SimpleSAMLphp IdP and headless Chromium
against a stand-in SP (a stdlib HTTP server that records what is POSTed to its ACS)."""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import xmlsec
from lxml import etree

from tests.support.browser import chromium_page
from tests.support.simplesamlphp import (
    ATTRNAME_BASIC,
    ATTRNAME_URI,
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    IdpLoginError,
    KeyPair,
    SamlPostForm,
    SimpleSamlPhpIdp,
    generate_key_pair,
    login,
    sp_metadata_xml,
)

pytestmark = pytest.mark.simplesamlphp

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}
AWS_ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
AWS_ROLE_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
ALICE_ATTRIBUTES = {
    "uid": ["alice"],
    "mail": ["alice@example.org"],
    "groups": ["admins", "dev"],
    AWS_ROLE: ["arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/ssp"],
    AWS_ROLE_SESSION_NAME: ["alice"],
}
USERS = {"alice": {"password": "alicepw", "attributes": ALICE_ATTRIBUTES}}


# -- the stand-in SP -------------------------------------------------------------------------


class AcsRecorder:
    """An HTTP server on 127.0.0.1 whose `/saml/acs` records every form POSTed to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        self._posted = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                with recorder._posted:
                    recorder.posts.append({name: values[0] for name, values in form.items()})
                    recorder._posted.notify_all()
                body = b"<html><head><title>ACS recorded</title></head><body>recorded</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait_for_post(self, timeout: float = 10.0) -> dict[str, str]:
        with self._posted:
            if not self._posted.wait_for(lambda: self.posts, timeout=timeout):
                raise AssertionError(f"nothing was POSTed to the ACS within {timeout}s")
            return self.posts.pop(0)

    def __enter__(self) -> AcsRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class FakeSp:
    entity_id: str
    acs_url: str
    signing_key: KeyPair
    encryption_key: KeyPair
    metadata_xml: str


@pytest.fixture(scope="module")
def acs() -> Iterator[AcsRecorder]:
    with AcsRecorder() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def fake_sp(acs: AcsRecorder) -> FakeSp:
    entity_id, acs_url = f"{acs.base_url}/saml/metadata", f"{acs.base_url}/saml/acs"
    signing_key, encryption_key = (
        generate_key_pair("fake SP signing"),
        generate_key_pair("fake SP encryption"),
    )
    return FakeSp(
        entity_id=entity_id,
        acs_url=acs_url,
        signing_key=signing_key,
        encryption_key=encryption_key,
        metadata_xml=sp_metadata_xml(entity_id, acs_url, signing_cert=signing_key, encryption_cert=encryption_key),
    )


@pytest.fixture
def start_idp(fake_sp: FakeSp, acs: AcsRecorder, tmp_path: Path) -> Iterator[Callable[..., SimpleSamlPhpIdp]]:
    """Start IdPs with the given options; all of them stop at the end of the test."""
    acs.posts.clear()
    started = 0
    with contextlib.ExitStack() as stack:

        def start(sp_metadata: str | None = None, **options: Any) -> SimpleSamlPhpIdp:
            nonlocal started
            started += 1
            workdir = tmp_path / f"idp{started}"
            metadata = sp_metadata or fake_sp.metadata_xml
            return stack.enter_context(SimpleSamlPhpIdp(metadata, USERS, workdir=workdir, **options))

        yield start


# -- XML helpers -----------------------------------------------------------------------------


def parse(document: bytes) -> etree._Element:
    return etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))


def verify_enveloped_signature(element: etree._Element, cert_pem: str) -> None:
    """`element` carries a ds:Signature over itself (by ID) that verifies with `cert_pem`."""
    signature = element.find("ds:Signature", NS)
    assert signature is not None, f"{element.tag} is not signed"
    reference = signature.find("ds:SignedInfo/ds:Reference", NS)
    assert reference is not None
    assert reference.get("URI") == "#" + element.get("ID", ""), "the signature covers some other element"
    xmlsec.tree.add_ids(element, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(cert_pem, xmlsec.KeyFormat.CERT_PEM)
    context.verify(signature)  # raises xmlsec.Error on a bad signature


def attributes_of(assertion: etree._Element) -> dict[str, list[str]]:
    return {
        str(attribute.get("Name")): [value.text or "" for value in attribute.findall("saml:AttributeValue", NS)]
        for attribute in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)
    }


def decrypt_assertion(response: etree._Element, key: KeyPair) -> etree._Element:
    encrypted_data = response.find("saml:EncryptedAssertion/xenc:EncryptedData", NS)
    assert encrypted_data is not None
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(key.private_key_pem, xmlsec.KeyFormat.PEM))
    return xmlsec.EncryptionContext(manager).decrypt(encrypted_data)


def assert_response_for(form: SamlPostForm, idp: SimpleSamlPhpIdp, sp: FakeSp) -> etree._Element:
    """Common checks on a response from `idp` to `sp`; returns the parsed samlp:Response."""
    response = parse(form.response_xml())
    assert response.tag == f"{{{NS['samlp']}}}Response"
    assert form.action == sp.acs_url
    assert response.get("Destination") == sp.acs_url
    assert response.findtext("saml:Issuer", namespaces=NS) == idp.entity_id
    status = response.find("samlp:Status/samlp:StatusCode", NS)
    assert status is not None
    assert status.get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Success"
    return response


def assert_assertion_for(assertion: etree._Element, idp: SimpleSamlPhpIdp, sp: FakeSp) -> None:
    assert assertion.findtext("saml:Issuer", namespaces=NS) == idp.entity_id
    assert assertion.findtext("saml:Conditions/saml:AudienceRestriction/saml:Audience", namespaces=NS) == (sp.entity_id)
    confirmation = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert confirmation is not None
    assert confirmation.get("Recipient") == sp.acs_url
    assert attributes_of(assertion) == ALICE_ATTRIBUTES


# -- (1) HTTP-only login: signatures, encryption, options ------------------------------------


@pytest.mark.parametrize(
    ("sign_response", "sign_assertion"),
    [(False, True), (True, False), (True, True)],
    ids=["assertion-signed", "response-signed", "both-signed"],
)
def test_http_login_returns_a_signed_response(
    start_idp: Callable[..., SimpleSamlPhpIdp], fake_sp: FakeSp, sign_response: bool, sign_assertion: bool
) -> None:
    idp = start_idp(sign_response=sign_response, sign_assertion=sign_assertion)

    form = idp.login_http("alice", "alicepw")

    response = assert_response_for(form, idp, fake_sp)
    assertion = response.find("saml:Assertion", NS)
    assert assertion is not None
    assert_assertion_for(assertion, idp, fake_sp)
    if sign_response:
        verify_enveloped_signature(response, idp.signing_cert_pem)
    else:
        assert response.find("ds:Signature", NS) is None
    if sign_assertion:
        verify_enveloped_signature(assertion, idp.signing_cert_pem)
    else:
        assert assertion.find("ds:Signature", NS) is None


def test_signature_check_is_not_vacuous(start_idp: Callable[..., SimpleSamlPhpIdp]) -> None:
    idp = start_idp(sign_response=False, sign_assertion=True)
    assertion = parse(idp.login_http("alice").response_xml()).find("saml:Assertion", NS)
    assert assertion is not None
    value = assertion.find("saml:AttributeStatement/saml:Attribute/saml:AttributeValue", NS)
    assert value is not None
    value.text = "mallory"

    with pytest.raises(xmlsec.Error):
        verify_enveloped_signature(assertion, idp.signing_cert_pem)
    untouched = parse(idp.login_http("alice").response_xml()).find("saml:Assertion", NS)
    assert untouched is not None
    verify_enveloped_signature(untouched, idp.signing_cert_pem)
    with pytest.raises(xmlsec.Error):  # nor does another key verify the untouched assertion
        verify_enveloped_signature(untouched, generate_key_pair("not the IdP").cert_pem)


def test_encrypted_assertion_uses_the_sp_encryption_certificate(
    start_idp: Callable[..., SimpleSamlPhpIdp], fake_sp: FakeSp
) -> None:
    idp = start_idp(encrypt_assertion=True, sign_response=True, sign_assertion=True)

    response = assert_response_for(idp.login_http("alice"), idp, fake_sp)

    assert response.find("saml:Assertion", NS) is None
    assert response.find("saml:EncryptedAssertion", NS) is not None
    verify_enveloped_signature(response, idp.signing_cert_pem)
    with pytest.raises(xmlsec.Error):
        decrypt_assertion(response, fake_sp.signing_key)
    assertion = decrypt_assertion(response, fake_sp.encryption_key)
    assert assertion.tag == f"{{{NS['saml']}}}Assertion"
    assert_assertion_for(assertion, idp, fake_sp)
    verify_enveloped_signature(assertion, idp.signing_cert_pem)


@pytest.mark.parametrize(
    ("options", "name_id", "name_id_format", "attribute_name_format", "authn_context"),
    [
        ({}, "alice", NAMEID_PERSISTENT, ATTRNAME_BASIC, "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"),
        (
            {
                "nameid_format": NAMEID_EMAIL,
                "attribute_name_format": "uri",
                "authn_context_class_ref": "https://refeds.org/profile/mfa",
            },
            "alice@example.org",
            NAMEID_EMAIL,
            ATTRNAME_URI,
            "https://refeds.org/profile/mfa",
        ),
        ({"nameid_format": NAMEID_TRANSIENT}, None, NAMEID_TRANSIENT, ATTRNAME_BASIC, None),
    ],
    ids=["defaults", "email-uri-mfa", "transient"],
)
def test_subject_and_attribute_options(
    start_idp: Callable[..., SimpleSamlPhpIdp],
    options: dict[str, Any],
    name_id: str | None,
    name_id_format: str,
    attribute_name_format: str,
    authn_context: str | None,
) -> None:
    idp = start_idp(**options)

    assertion = parse(idp.login_http("alice").response_xml()).find("saml:Assertion", NS)

    assert assertion is not None
    name_id_element = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id_element is not None
    assert name_id_element.get("Format") == name_id_format
    if name_id is not None:
        assert name_id_element.text == name_id
    formats = {a.get("NameFormat") for a in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)}
    assert formats == {attribute_name_format}
    if authn_context is not None:
        assert assertion.findtext(".//saml:AuthnContextClassRef", namespaces=NS) == authn_context


def test_metadata_names_the_entity_and_its_signing_certificate(
    start_idp: Callable[..., SimpleSamlPhpIdp],
) -> None:
    idp = start_idp()

    metadata = parse(idp.metadata_xml().encode())

    assert metadata.get("entityID") == idp.entity_id
    sso = metadata.find("md:IDPSSODescriptor/md:SingleSignOnService", NS)
    assert sso is not None
    assert sso.get("Location") == idp.sso_url
    signing = metadata.findtext(
        "md:IDPSSODescriptor/md:KeyDescriptor[@use='signing']/ds:KeyInfo/ds:X509Data/ds:X509Certificate",
        namespaces=NS,
    )
    assert signing is not None
    assert "".join(signing.split()) == idp.signing_key.cert_base64


def test_wrong_password_is_refused_and_an_idp_session_is_reused(
    start_idp: Callable[..., SimpleSamlPhpIdp],
) -> None:
    idp = start_idp()
    jar = http.cookiejar.CookieJar()

    with pytest.raises(IdpLoginError, match="refused the credentials"):
        idp.login_http("alice", "wrong", cookie_jar=jar)
    first = idp.login_http("alice", "alicepw", cookie_jar=jar)
    again = idp.login_http("alice", "not even asked", cookie_jar=jar)  # SSO session: no login form

    assert parse(first.response_xml()).get("ID") != parse(again.response_xml()).get("ID")
    assert {cookie.name for cookie in jar} >= {f"SimpleSAML_{idp.port}", f"SimpleSAMLAuthToken_{idp.port}"}


def test_bad_user_table_is_rejected_before_start(fake_sp: FakeSp) -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        SimpleSamlPhpIdp(fake_sp.metadata_xml, {"bob": {"password": "x", "attrs": {}}})


def test_pysaml2_sp_metadata_and_signed_authn_requests(
    start_idp: Callable[..., SimpleSamlPhpIdp], acs: AcsRecorder, tmp_path: Path
) -> None:
    """SP metadata as pysaml2 writes it for the broker (AuthnRequestsSigned="true",
    WantAssertionsSigned="false", signing + encryption certificates): SimpleSAMLphp then
    requires a valid redirect signature and still signs the assertion, as configured."""
    from saml2 import BINDING_HTTP_POST
    from saml2.config import SPConfig
    from saml2.metadata import create_metadata_string

    signing, encryption = generate_key_pair("pysaml2 SP signing"), generate_key_pair("pysaml2 SP encryption")
    for name, pair in (("signing", signing), ("encryption", encryption)):
        (tmp_path / f"{name}.key").write_text(pair.private_key_pem)
        (tmp_path / f"{name}.crt").write_text(pair.cert_pem)
    config = SPConfig()
    config.load(
        {
            "entityid": f"{acs.base_url}/pysaml2/metadata",
            # pysaml2's default backend looks for the xmlsec1 program, which Debian does not install.
            "crypto_backend": "XMLSecurity",
            "key_file": str(tmp_path / "signing.key"),
            "cert_file": str(tmp_path / "signing.crt"),
            "encryption_keypairs": [
                {"key_file": str(tmp_path / "encryption.key"), "cert_file": str(tmp_path / "encryption.crt")}
            ],
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(f"{acs.base_url}/saml/acs", BINDING_HTTP_POST)]},
                    "authn_requests_signed": True,
                    "want_assertions_signed": False,
                    "want_response_signed": False,
                }
            },
        }
    )
    metadata = create_metadata_string(None, config=config, valid=None, sign=False)
    idp = start_idp(metadata.decode() if isinstance(metadata, bytes) else metadata, encrypt_assertion=True)

    with pytest.raises(IdpLoginError, match="no signature found on message"):
        idp.login_http("alice", start_url=idp.sp_initiated_url().url)
    # Signed, but with the SP's encryption key: not the certificate its metadata names for signing.
    with pytest.raises(IdpLoginError, match="Unable to validate signature on query string"):
        idp.login_http("alice", start_url=idp.sp_initiated_url(signing_key=encryption).url)
    request = idp.sp_initiated_url(signing_key=signing)
    response = parse(idp.login_http("alice", start_url=request.url).response_xml())

    assert response.get("InResponseTo") == request.request_id
    assertion = decrypt_assertion(response, encryption)
    verify_enveloped_signature(assertion, idp.signing_cert_pem)  # sign_assertion wins over the SP's "false"


def test_sp_metadata_can_be_replaced_while_running(start_idp: Callable[..., SimpleSamlPhpIdp]) -> None:
    idp = start_idp()
    newcomer = generate_key_pair("second SP")
    entity_id, acs_url = "http://127.0.0.1:9/other/metadata", "http://127.0.0.1:9/other/acs"

    idp.update_sp_metadata(sp_metadata_xml(entity_id, acs_url, signing_cert=newcomer, encryption_cert=newcomer))
    form = idp.login_http("alice", start_url=idp.idp_initiated_url(entity_id))

    assert form.action == acs_url
    assert parse(form.response_xml()).get("Destination") == acs_url


# -- (2) IdP-initiated -----------------------------------------------------------------------


def test_idp_initiated_response_reaches_the_acs(
    start_idp: Callable[..., SimpleSamlPhpIdp], fake_sp: FakeSp, acs: AcsRecorder
) -> None:
    idp = start_idp()

    form = idp.login_http("alice", start_url=idp.idp_initiated_url(fake_sp.entity_id, relay_state="/console"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(form.action, data=form.form_body()), timeout=10) as answer:
        assert answer.status == 200

    posted = acs.wait_for_post()
    assert posted["RelayState"] == "/console"
    response = parse(base64.b64decode(posted["SAMLResponse"]))
    assert response.get("InResponseTo") is None  # unsolicited
    assert response.get("Destination") == fake_sp.acs_url


def test_sp_initiated_over_http_answers_the_request(
    start_idp: Callable[..., SimpleSamlPhpIdp], fake_sp: FakeSp
) -> None:
    idp = start_idp()
    request = idp.sp_initiated_url(relay_state="state-1")

    form = idp.login_http("alice", start_url=request.url)

    response = assert_response_for(form, idp, fake_sp)
    assert response.get("InResponseTo") == request.request_id
    assert form.relay_state == "state-1"


# -- (3) Chromium, SP-initiated --------------------------------------------------------------


@pytest.mark.browser
def test_browser_login_posts_the_response_to_the_acs(
    start_idp: Callable[..., SimpleSamlPhpIdp], fake_sp: FakeSp, acs: AcsRecorder
) -> None:
    idp = start_idp()
    request = idp.sp_initiated_url(relay_state="from-browser")

    with chromium_page() as page:
        page.goto(request.url)
        login(page, "alice", "alicepw")
        page.wait_for_url(fake_sp.acs_url)  # post.js submitted the form to the ACS
        assert page.title() == "ACS recorded"

    posted = acs.wait_for_post()
    assert posted["RelayState"] == "from-browser"
    response = parse(base64.b64decode(posted["SAMLResponse"]))
    assert response.get("InResponseTo") == request.request_id
    assertion = response.find("saml:Assertion", NS)
    assert assertion is not None
    verify_enveloped_signature(assertion, idp.signing_cert_pem)
    assert attributes_of(assertion)[AWS_ROLE] == ALICE_ATTRIBUTES[AWS_ROLE]
