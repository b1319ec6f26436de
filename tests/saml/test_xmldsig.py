"""XmlsecBindingsBackend as pysaml2 drives it, and the hostile-XML parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from saml2 import saml, samlp
from saml2.sigver import XmlsecError, pre_signature_part

from broker.saml.errors import SamlError
from broker.saml.xmldsig import XmlsecBindingsBackend, check_unique_ids, decrypt_assertion
from broker.saml.xmlsafe import parse_xml
from tests.saml.conftest import Acs, KeyPair
from tests.support.saml_factory import (
    ASSERTION_ID,
    RESPONSE_ID,
    RSA_SHA256,
    SHA256,
    Encryption,
    all_of,
    build_response,
    encode_bytes,
    insert_comment,
    one,
)

ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
RESPONSE_NODE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"


@pytest.fixture(scope="module")
def backend() -> XmlsecBindingsBackend:
    return XmlsecBindingsBackend()


def idp_cert(acs: Acs) -> str:
    return acs.idp.cert_pem.decode()


def _unsigned_response(acs: Acs) -> str:
    text: str = etree.tostring(build_response(acs.options(sign_assertion=None)), encoding="unicode")
    return text


def templated(acs: Acs, sign_alg: str | None = RSA_SHA256, digest_alg: str | None = SHA256) -> str:
    """A Response whose assertion carries pysaml2's signature template, as pysaml2 prepares it."""
    response = samlp.response_from_string(_unsigned_response(acs))
    response.assertion[0].signature = pre_signature_part(ASSERTION_ID, sign_alg=sign_alg, digest_alg=digest_alg)
    text: str = str(response)
    return text


def signed_text(acs: Acs, backend: XmlsecBindingsBackend, **algorithms: str | None) -> str:
    signed: str = backend.sign_statement(
        templated(acs, **algorithms), ASSERTION_NODE, acs.idp.key_pem.decode(), ASSERTION_ID
    )
    return signed


def test_sign_then_validate_round_trip(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    signed = signed_text(acs, backend)
    assert backend.validate_signature(signed, idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)
    assert backend.validate_signature(signed.encode(), idp_cert(acs), "pem", ASSERTION_NODE, None)


def test_backend_signed_response_passes_the_acs(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    assertion = acs.accept(encode_bytes(signed_text(acs, backend).encode()))
    assert assertion.assertion_signed
    assert assertion.subject == "alice@corp.example"


def test_validate_with_the_wrong_certificate(acs: Acs, backend: XmlsecBindingsBackend, attacker_keys: KeyPair) -> None:
    with pytest.raises(XmlsecError, match="BadSignature"):
        backend.validate_signature(
            signed_text(acs, backend), attacker_keys.cert_pem.decode(), "pem", ASSERTION_NODE, ASSERTION_ID
        )


def test_validate_tampered_statement(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    tampered = signed_text(acs, backend).replace(">alice@corp.example</", ">admin@corp.example</", 1)
    with pytest.raises(XmlsecError, match="BadSignature"):
        backend.validate_signature(tampered, idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)


def test_comment_added_after_signing_still_validates(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    root = etree.fromstring(signed_text(acs, backend).encode())
    insert_comment(one(root, "//saml:NameID"), 5)
    text = etree.tostring(root)
    assert backend.validate_signature(text, idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)


def test_pysaml2_default_sha1_is_refused_on_validation(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    signed = signed_text(acs, backend, sign_alg=None, digest_alg=None)  # pysaml2 defaults: rsa-sha1, sha1
    assert "xmldsig#rsa-sha1" in signed
    with pytest.raises(XmlsecError, match="DisallowedAlgorithm"):
        backend.validate_signature(signed, idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)


def test_validate_unsigned_node(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    with pytest.raises(XmlsecError, match="not signed"):
        backend.validate_signature(_unsigned_response(acs), idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)


def test_validate_unknown_node_id(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    with pytest.raises(XmlsecError, match="_nowhere"):
        backend.validate_signature(signed_text(acs, backend), idp_cert(acs), "pem", ASSERTION_NODE, "_nowhere")


def test_sign_statement_needs_a_template(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    with pytest.raises(XmlsecError, match="template"):
        backend.sign_statement(_unsigned_response(acs), ASSERTION_NODE, acs.idp.key_pem.decode(), ASSERTION_ID)


def test_sign_statement_with_a_key_file(acs: Acs, backend: XmlsecBindingsBackend, tmp_path: Path) -> None:
    key_file = tmp_path / "idp.key"
    key_file.write_bytes(acs.idp.key_pem)
    signed = backend.sign_statement(templated(acs), ASSERTION_NODE, str(key_file), ASSERTION_ID)
    assert backend.validate_signature(signed, idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)


def test_sign_the_response_node(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    response = samlp.response_from_string(_unsigned_response(acs))
    response.signature = pre_signature_part(RESPONSE_ID, sign_alg=RSA_SHA256, digest_alg=SHA256)
    signed = backend.sign_statement(str(response), RESPONSE_NODE, acs.idp.key_pem.decode(), RESPONSE_ID)
    assert backend.validate_signature(signed, idp_cert(acs), "pem", RESPONSE_NODE, RESPONSE_ID)
    assert acs.accept(encode_bytes(signed.encode())).response_signed


def test_validate_with_duplicate_ids_raises_xmlsec_error(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    root = etree.fromstring(signed_text(acs, backend).encode())
    one(root, "samlp:Status").set("ID", ASSERTION_ID)
    with pytest.raises(XmlsecError):
        backend.validate_signature(etree.tostring(root), idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)


def _encrypted_response(acs: Acs) -> str:
    root = build_response(acs.options(encrypt=Encryption(acs.sp.cert_pem)))
    text: str = etree.tostring(root, encoding="unicode")
    return text


def test_decrypt_through_the_backend(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    decrypted = backend.decrypt(_encrypted_response(acs), acs.sp.key_pem.decode())
    root = etree.fromstring(decrypted.encode())
    assert all_of(root, "//saml:EncryptedAssertion") == []
    assert one(root, "saml:Assertion/saml:Subject/saml:NameID").text == "alice@corp.example"
    # The IdP's signature survives the round trip through encryption.
    assert backend.validate_signature(decrypted, idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)
    assertion = saml.assertion_from_string(etree.tostring(one(root, "saml:Assertion")))
    assert assertion.subject.name_id.text == "alice@corp.example"


def test_decrypt_with_the_wrong_key(acs: Acs, backend: XmlsecBindingsBackend, other_sp_keys: KeyPair) -> None:
    with pytest.raises(XmlsecError, match="DecryptionFailed"):
        backend.decrypt(_encrypted_response(acs), other_sp_keys.key_pem.decode())


def test_encrypt_assertion_then_decrypt(acs: Acs, backend: XmlsecBindingsBackend) -> None:
    statement = etree.tostring(build_response(acs.options()), encoding="unicode")
    encrypted = backend.encrypt_assertion(statement, acs.sp.cert_pem.decode(), template="")
    root = etree.fromstring(encrypted.encode())
    assert all_of(root, "//saml:Assertion") == []
    method = one(root, "saml:EncryptedAssertion/xenc:EncryptedData/xenc:EncryptionMethod").get("Algorithm")
    assert method == "http://www.w3.org/2009/xmlenc11#aes256-gcm"
    decrypted = backend.decrypt(encrypted, acs.sp.key_pem.decode())
    assert backend.validate_signature(decrypted, idp_cert(acs), "pem", ASSERTION_NODE, ASSERTION_ID)


def test_raw_encrypt_is_not_offered(backend: XmlsecBindingsBackend, sp_keys: KeyPair) -> None:
    with pytest.raises(XmlsecError):
        backend.encrypt("<a/>", sp_keys.cert_pem.decode(), template="", key_type="")


def test_decrypt_assertion_returns_the_assertion(acs: Acs) -> None:
    root = build_response(acs.options(encrypt=Encryption(acs.sp.cert_pem)))
    assertion = decrypt_assertion(one(root, "saml:EncryptedAssertion"), [acs.sp.key_pem])
    assert assertion.get("ID") == ASSERTION_ID


# ---------------------------------------------------------------------------------------------
# parse_xml and check_unique_ids


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<!DOCTYPE a><a/>", id="doctype"),
        pytest.param(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', id="internal-entity"),
        pytest.param(b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>', id="xxe"),
        pytest.param(b"<!ENTITY e 'x'><a/>", id="stray-entity-declaration"),
        pytest.param('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>'.encode("utf-16"), id="utf-16-doctype"),
        pytest.param(b'<a><?php system("id"); ?></a>', id="processing-instruction"),
    ],
)
def test_parse_xml_refuses_dtds_entities_and_processing_instructions(data: bytes) -> None:
    with pytest.raises(SamlError) as info:
        parse_xml(data)
    assert info.value.code == "ForbiddenXml"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<a>", id="unclosed"),
        pytest.param(b"<a/><b/>", id="two-roots"),
        pytest.param(b"<a>&undeclared;</a>", id="undeclared-entity"),
        pytest.param(b"<a>" * 300 + b"</a>" * 300, id="too-deep"),
    ],
)
def test_parse_xml_refuses_malformed_documents(data: bytes) -> None:
    with pytest.raises(SamlError) as info:
        parse_xml(data)
    assert info.value.code == "MalformedMessage"


def test_parse_xml_keeps_comments_and_predefined_entities() -> None:
    root = parse_xml(b"<a>x&amp;y<!-- note -->z</a>")
    assert root.text == "x&y"
    assert len(root) == 1
    assert isinstance(root[0], etree._Comment)
    assert root[0].tail == "z"


def test_check_unique_ids() -> None:
    check_unique_ids(parse_xml(b'<a ID="1"><b ID="2"/><c id="2"/></a>'))
    with pytest.raises(SamlError) as info:
        check_unique_ids(parse_xml(b'<a ID="1"><b><c ID="1"/></b></a>'))
    assert info.value.code == "DuplicateId"
