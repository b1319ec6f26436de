"""Shapes an attacker controls before anything in the message is authenticated: how an encrypted
assertion's ciphertext is given, times at the calendar's edge, and content the schema allows once."""

from __future__ import annotations

import base64
import copy
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from tests.saml.conftest import NOW, Acs
from tests.support.saml_factory import Encryption, build_response, encode, one

XENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def encrypted(acs: Acs) -> etree._Element:
    """A Response (unsigned) holding a signed, encrypted assertion: nothing here is authenticated
    until the assertion has been decrypted."""
    return build_response(acs.options(encrypt=Encryption(acs.sp.cert_pem)))


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every request it gets."""
    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"AAAA")

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _reference_instead(root: etree._Element, holder: str, uri: str, transforms: str | None = None) -> None:
    cipher_data = one(root, f"//xenc:{holder}/xenc:CipherData")
    for child in list(cipher_data):
        cipher_data.remove(child)
    reference = etree.SubElement(cipher_data, f"{{{XENC}}}CipherReference", URI=uri)
    if transforms is not None:
        holder_of = etree.SubElement(reference, f"{{{XENC}}}Transforms")
        etree.SubElement(holder_of, f"{{{DS}}}Transform", Algorithm=transforms)


@pytest.mark.parametrize("holder", ["EncryptedKey", "EncryptedData"])
def test_a_cipher_reference_is_refused_and_never_fetched(
    acs: Acs, holder: str, tmp_path: Path, listener: tuple[str, list[str]]
) -> None:
    base, hits = listener
    for uri in (f"{base}/{holder}", f"file://{tmp_path}/nothing", "", "#_x"):
        root = encrypted(acs)
        _reference_instead(root, holder, uri)
        error = acs.refuse(encode(root), "DisallowedAlgorithm")
        assert "CipherReference" in error.detail
    assert hits == []


def test_a_cipher_reference_to_a_file_holding_the_real_ciphertext_is_refused(acs: Acs, tmp_path: Path) -> None:
    # Before the check, xmlsec read the file and the response was accepted: a local file read,
    # and with file:///dev/zero a read until memory ran out.
    root = encrypted(acs)
    value = one(root, "//xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue")
    (tmp_path / "key.bin").write_bytes(base64.b64decode(value.text or ""))
    _reference_instead(root, "EncryptedKey", f"file://{tmp_path}/key.bin")
    acs.refuse(encode(root), "DisallowedAlgorithm")


def test_transforms_anywhere_in_an_encrypted_assertion_are_refused(acs: Acs) -> None:
    # An XSLT transform ran before anything was authenticated: 2^22 template calls took 5 s.
    root = encrypted(acs)
    _reference_instead(root, "EncryptedData", "", transforms="http://www.w3.org/TR/1999/REC-xslt-19991116")
    acs.refuse(encode(root), "DisallowedAlgorithm")
    root = encrypted(acs)
    key_info = one(root, "//xenc:EncryptedKey").find(f"{{{DS}}}KeyInfo")
    if key_info is None:
        key_info = etree.SubElement(one(root, "//xenc:EncryptedKey"), f"{{{DS}}}KeyInfo")
    method = etree.SubElement(key_info, f"{{{DS}}}RetrievalMethod", URI="#_key")
    etree.SubElement(etree.SubElement(method, f"{{{DS}}}Transforms"), f"{{{DS}}}Transform", Algorithm="x")
    assert "transforms" in acs.refuse(encode(root), "DisallowedAlgorithm").detail


def test_a_reference_outside_the_document_is_refused(acs: Acs) -> None:
    root = encrypted(acs)
    data = one(root, "//xenc:EncryptedData")
    key_info = data.find(f"{{{DS}}}KeyInfo")
    if key_info is None:
        key_info = etree.Element(f"{{{DS}}}KeyInfo")
        one(data, "xenc:CipherData").addprevious(key_info)
    etree.SubElement(key_info, f"{{{DS}}}RetrievalMethod", URI="file:///etc/hostname")
    assert "outside the document" in acs.refuse(encode(root), "DisallowedAlgorithm").detail


def _oaep(acs: Acs, plaintext: bytes) -> str:
    key = x509.load_pem_x509_certificate(acs.sp.cert_pem).public_key()
    # rsa-oaep-mgf1p, the key transport SAML IdPs use, is OAEP over SHA-1.
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)  # noqa: S303
    sealed = key.encrypt(plaintext, oaep)  # type: ignore[union-attr]
    return base64.b64encode(sealed).decode()


@pytest.mark.parametrize("plaintext", [b"garbage", b"<a/>", b""])
@pytest.mark.parametrize("kind", ["Element", "Content"])
def test_an_encrypted_key_that_claims_to_hold_xml_is_refused(acs: Acs, kind: str, plaintext: bytes) -> None:
    # With a Type, xmlsec swaps the decrypted key into the tree as XML; text made it raise
    # IndexError, which became a 500. Anyone with the SP's public certificate can send it.
    root = encrypted(acs)
    key = one(root, "//xenc:EncryptedKey")
    key.set("Type", XENC + kind)
    one(key, "xenc:CipherData/xenc:CipherValue").text = _oaep(acs, plaintext)
    acs.refuse(encode(root), "DecryptionFailed")


def test_encrypted_data_must_hold_an_element_and_inline_ciphertexts(acs: Acs) -> None:
    root = encrypted(acs)
    one(root, "//xenc:EncryptedData").set("Type", XENC + "Content")
    assert "must hold an element" in acs.refuse(encode(root), "DecryptionFailed").detail
    for holder in ("EncryptedData", "EncryptedKey"):
        root = encrypted(acs)
        value = one(root, f"//xenc:{holder}/xenc:CipherData/xenc:CipherValue")
        value.addnext(copy.deepcopy(value))  # two values
        assert "one inline" in acs.refuse(encode(root), "DecryptionFailed").detail
        root = encrypted(acs)
        value = one(root, f"//xenc:{holder}/xenc:CipherData/xenc:CipherValue")
        value.getparent().remove(value)  # none
        acs.refuse(encode(root), "DecryptionFailed")


def test_the_unchanged_encrypted_response_is_accepted(acs: Acs) -> None:
    assert acs.accept(encode(encrypted(acs))).encrypted


# --- times -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",  # the offset moves it before the calendar's first day
        "9999-12-31T23:59:59-01:00",  # ...and after its last
        "2025-03-14T23:26:53+14:01",  # xs:dateTime's zones run from -14:00 to +14:00
        "2025-03-14T09:26:53+99:99",
        "2025-03-14T09:26:53+10:60",
    ],
)
def test_a_time_out_of_range_is_malformed_not_a_crash(acs: Acs, text: str) -> None:
    # The Response's IssueInstant is read before any signature is checked.
    acs.refuse(encode(build_response(acs.options(issue_instant=text))), "MalformedMessage")


def test_the_widest_zone_is_read(acs: Acs) -> None:
    accepted = acs.accept(encode(build_response(acs.options(authn_instant="2025-03-14T23:26:53+14:00"))))
    assert accepted.authn_instant == NOW


# --- content the schema allows once, signed twice by the IdP ------------------------------------------


def _twice(path: str, change: Callable[[etree._Element], None] | None = None) -> Callable[[etree._Element], None]:
    def add(response: etree._Element) -> None:
        element = one(response, path)
        second = copy.deepcopy(element)
        if change is not None:
            change(second)
        element.addnext(second)

    return add


def _expired(conditions: etree._Element) -> None:
    conditions.set("NotOnOrAfter", "2000-01-01T00:00:00Z")


def _someone_else(subject: etree._Element) -> None:
    one(subject, "saml:NameID").text = "mallory@corp.example"


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (_twice(".//saml:Conditions", _expired), "Assertion Conditions"),
        (_twice(".//saml:Subject", _someone_else), "Assertion Subject"),
        (_twice(".//saml:SubjectConfirmationData"), "SubjectConfirmationData"),
        (_twice(".//saml:Assertion/saml:Issuer"), "Assertion Issuer"),
    ],
)
def test_content_allowed_once_is_refused_when_it_comes_twice(
    acs: Acs, change: Callable[[etree._Element], None], what: str
) -> None:
    # Read first-wins, the second copy went unseen: ambiguous content is malformed instead.
    error = acs.refuse(encode(build_response(acs.options(before_signing=change))), "MalformedMessage")
    assert f"{what} occurs 2 times" in error.detail


def _condition(tag: str) -> Callable[[etree._Element], None]:
    def add(response: etree._Element) -> None:
        etree.SubElement(one(response, ".//saml:Conditions"), f"{{{SAML}}}{tag}")

    return add


def test_a_condition_this_sp_does_not_know_makes_the_assertion_unacceptable(acs: Acs) -> None:
    # saml-core 2.5.1.1: an unknown condition leaves the assertion's validity indeterminate.
    acs.refuse(encode(build_response(acs.options(before_signing=_condition("Condition")))), "MalformedMessage")
    for known in ("OneTimeUse", "ProxyRestriction"):
        acs.accept(encode(build_response(acs.options(before_signing=_condition(known)))))
