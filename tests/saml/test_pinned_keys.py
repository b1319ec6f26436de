"""The pinned keys a signature is checked with, and the SP key an assertion is decrypted with.

Verification hands xmlsec the public key of each pinned certificate (not the certificate, which
xmlsec would copy on every check); decryption hands it the SP key directly (not a keys manager,
which costs milliseconds to build). These tests hold what that must not change.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from lxml import etree

from broker.saml.xmldsig import encrypt_assertion
from tests.saml.conftest import Acs, KeyPair
from tests.support.saml_factory import DS, SAML, Encryption, build_response, encode, one, response_b64


def _ec_pair() -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.corp.example ec")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(key_pem, cert.public_bytes(serialization.Encoding.PEM))


def _sign_ecdsa(element: etree._Element, keys: KeyPair) -> None:
    signature = xmlsec.template.create(
        element, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformEcdsaSha256
    )
    one(element, "saml:Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256, uri=f"#{element.get('ID')}")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    ctx.key = xmlsec.Key.from_memory(keys.key_pem, xmlsec.constants.KeyDataFormatPem)
    ctx.sign(signature)


def test_ecdsa_signature_verifies_with_the_pinned_ec_certificate(acs: Acs) -> None:
    ec_keys, other = _ec_pair(), _ec_pair()
    root = build_response(acs.options(sign_assertion=None))
    _sign_ecdsa(one(root, "saml:Assertion"), ec_keys)
    message = encode(root)
    assert acs.accept(message, provider=dataclasses.replace(acs.provider, signing_certs=(ec_keys.cert_pem,)))
    acs.refuse(message, "BadSignature", provider=dataclasses.replace(acs.provider, signing_certs=(other.cert_pem,)))
    acs.refuse(message, "BadSignature")  # the pinned RSA certificate cannot check an ECDSA signature


@pytest.mark.parametrize("unreadable", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_an_unreadable_pinned_certificate_is_skipped_never_an_error(acs: Acs, unreadable: bytes) -> None:
    message = response_b64(acs.options())
    acs.refuse(message, "BadSignature", provider=dataclasses.replace(acs.provider, signing_certs=(unreadable,)))
    both = dataclasses.replace(acs.provider, signing_certs=(unreadable, acs.idp.cert_pem))
    assert acs.accept(message, provider=both).assertion_signed


def test_the_same_pinned_key_serves_many_verifications(acs: Acs, attacker_keys: KeyPair) -> None:
    # The key is cached per certificate; a forged message in between changes nothing for the next.
    good = [response_b64(acs.options(assertion_id=f"_assert-{n}")) for n in range(3)]
    forged = response_b64(acs.options(sign_assertion=attacker_keys.signer()))
    acs.accept(good[0])
    acs.refuse(forged, "BadSignature")
    acs.accept(good[1])
    acs.refuse(forged, "BadSignature")
    acs.accept(good[2])


def test_decryption_ignores_a_key_name_in_the_encrypted_key(acs: Acs, other_sp_keys: KeyPair) -> None:
    # Only the SP's own keys decrypt, whatever the message says about which key it used.
    root = build_response(acs.options(encrypt=Encryption(acs.sp.cert_pem)))
    encrypted_key = one(root, "//xenc:EncryptedKey")
    assert encrypted_key.find(f"{{{DS}}}KeyInfo") is None
    key_info = etree.Element(f"{{{DS}}}KeyInfo")
    etree.SubElement(key_info, f"{{{DS}}}KeyName").text = "some-other-key"
    encrypted_key.insert(1, key_info)  # after EncryptionMethod, as the schema orders them
    assert acs.accept(encode(root)).encrypted
    policy = dataclasses.replace(acs.policy, decryption_keys=(other_sp_keys.key_pem,))
    acs.refuse(encode(root), "DecryptionFailed", policy=policy)


def test_encrypted_assertion_plaintext_stands_on_its_own(acs: Acs) -> None:
    # The plaintext declares its namespaces itself, so an SP that parses it outside the
    # Response (pysaml2 with xmlsec1, for one) reads it: the benchmark's baseline relies on it.
    root = build_response(acs.options())
    wrapper = encrypt_assertion(one(root, "saml:Assertion"), acs.sp.cert_pem)
    ctx = xmlsec.EncryptionContext()
    ctx.key = xmlsec.Key.from_memory(acs.sp.key_pem, xmlsec.constants.KeyDataFormatPem)
    session_key = ctx.decrypt(one(wrapper, "//xenc:EncryptedKey"))
    assert isinstance(session_key, bytes)
    data = base64.b64decode(one(wrapper, "xenc:EncryptedData/xenc:CipherData/xenc:CipherValue").text or "")
    plaintext = AESGCM(session_key).decrypt(data[:12], data[12:], None)
    standalone = etree.fromstring(plaintext)
    assert standalone.tag == f"{{{SAML}}}Assertion"
    assert one(standalone, "saml:Subject/saml:NameID").text == "alice@corp.example"
