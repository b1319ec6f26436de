"""The signature profile and the encryption allow-list, one algorithm and one bound at a time.

Written against mutants the older tests let through: an entry of an allow-list removed, either end
of the allowed number of transforms moved, base64 validation relaxed, the CBC default of
decryption flipped to allowed on the path pysaml2 drives.
"""

from __future__ import annotations

import datetime as dt

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from saml2.sigver import XmlsecError

from broker.saml.errors import SamlError
from broker.saml.xmldsig import (
    C14N_ALGORITHMS,
    DATA_ENCRYPTION_CBC,
    DATA_ENCRYPTION_GCM,
    DIGEST_ALGORITHMS,
    DS_RSA_SHA1,
    DS_SHA1,
    ENVELOPED,
    KEY_TRANSPORT,
    SIGNATURE_ALGORITHMS,
    XmlsecBindingsBackend,
    b64decode_strict,
    check_encryption_algorithms,
    decrypt_assertion,
    pem_from_base64_der,
    signature_of,
    verify_enveloped,
)
from broker.saml.xmlsafe import q
from tests.saml.conftest import Acs, KeyPair
from tests.support.saml_factory import Encryption, build_response, encrypt, one

XMLDSIG_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

_SIGNATURES = {
    f"{XMLDSIG_MORE}rsa-sha256": xmlsec.constants.TransformRsaSha256,
    f"{XMLDSIG_MORE}rsa-sha384": xmlsec.constants.TransformRsaSha384,
    f"{XMLDSIG_MORE}rsa-sha512": xmlsec.constants.TransformRsaSha512,
    f"{XMLDSIG_MORE}ecdsa-sha256": xmlsec.constants.TransformEcdsaSha256,
    f"{XMLDSIG_MORE}ecdsa-sha384": xmlsec.constants.TransformEcdsaSha384,
    f"{XMLDSIG_MORE}ecdsa-sha512": xmlsec.constants.TransformEcdsaSha512,
    DS_RSA_SHA1: xmlsec.constants.TransformRsaSha1,
}
_DIGESTS = {
    SHA256: xmlsec.constants.TransformSha256,
    f"{XMLDSIG_MORE}sha384": xmlsec.constants.TransformSha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": xmlsec.constants.TransformSha512,
    DS_SHA1: xmlsec.constants.TransformSha1,
}
_TRANSFORMS = {
    ENVELOPED: xmlsec.constants.TransformEnveloped,
    EXC_C14N: xmlsec.constants.TransformExclC14N,
    EXC_C14N_COMMENTS: xmlsec.constants.TransformExclC14NWithComments,
}


@pytest.fixture(scope="module")
def ec_pair() -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec idp")])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(key_pem, cert.public_bytes(serialization.Encoding.PEM))


def assertion_of(acs: Acs) -> etree._Element:
    response = build_response(acs.options(sign_assertion=None))
    return one(response, ".//saml:Assertion")


def signed(
    acs: Acs,
    pair: KeyPair,
    *,
    algorithm: str = f"{XMLDSIG_MORE}rsa-sha256",
    digest: str = SHA256,
    c14n: str = EXC_C14N,
    transforms: tuple[str, ...] = (ENVELOPED, EXC_C14N),
) -> etree._Element:
    """The assertion with an enveloped signature made with exactly these algorithms and transforms."""
    element = assertion_of(acs)
    c14n_id = _TRANSFORMS[c14n]
    signature = xmlsec.template.create(element, c14n_id, _SIGNATURES[algorithm])
    element.find(q("saml", "Issuer")).addnext(signature)
    reference = xmlsec.template.add_reference(signature, _DIGESTS[digest], uri=f"#{element.get('ID')}")
    for transform in transforms:
        xmlsec.template.add_transform(reference, _TRANSFORMS[transform])
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    ctx.key = xmlsec.Key.from_memory(pair.key_pem, xmlsec.constants.KeyDataFormatPem)
    ctx.sign(signature)
    # Parsed again, as a receiver would: lxml does not find by name the nodes xmlsec just created.
    return etree.fromstring(etree.tostring(element))


def verify(element: etree._Element, pair: KeyPair, allow_sha1: bool = False) -> None:
    signature = signature_of(element)
    assert signature is not None
    verify_enveloped(element, signature, [pair.cert_pem], allow_sha1)


def refused(element: etree._Element, pair: KeyPair, code: str, allow_sha1: bool = False) -> SamlError:
    with pytest.raises(SamlError) as caught:
        verify(element, pair, allow_sha1)
    assert caught.value.code == code, caught.value.detail
    return caught.value


# --- signature algorithms ------------------------------------------------------------------------


def test_the_allow_lists_are_exactly_these() -> None:
    assert {name for name in _SIGNATURES if name != DS_RSA_SHA1} == SIGNATURE_ALGORITHMS
    assert {name for name in _DIGESTS if name != DS_SHA1} == DIGEST_ALGORITHMS
    assert {EXC_C14N, EXC_C14N_COMMENTS} == C14N_ALGORITHMS


@pytest.mark.parametrize("algorithm", sorted(name for name in _SIGNATURES if name != DS_RSA_SHA1))
def test_every_allowed_signature_algorithm_verifies(
    acs: Acs, ec_pair: KeyPair, algorithm: str, idp_keys: KeyPair
) -> None:
    pair = ec_pair if "ecdsa" in algorithm else idp_keys
    element = signed(acs, pair, algorithm=algorithm)
    verify(element, pair)


@pytest.mark.parametrize("digest", sorted(name for name in _DIGESTS if name != DS_SHA1))
def test_every_allowed_digest_verifies(acs: Acs, idp_keys: KeyPair, digest: str) -> None:
    element = signed(acs, idp_keys, digest=digest)
    verify(element, idp_keys)


@pytest.mark.parametrize("c14n", [EXC_C14N, EXC_C14N_COMMENTS])
def test_both_exclusive_canonicalizations_verify(acs: Acs, idp_keys: KeyPair, c14n: str) -> None:
    element = signed(acs, idp_keys, c14n=c14n, transforms=(ENVELOPED, c14n))
    verify(element, idp_keys)


def test_sha1_only_with_the_providers_opt_in(acs: Acs, idp_keys: KeyPair) -> None:
    rsa_sha1 = signed(acs, idp_keys, algorithm=DS_RSA_SHA1)
    assert "rsa-sha1" in str(refused(rsa_sha1, idp_keys, "DisallowedAlgorithm"))
    verify(rsa_sha1, idp_keys, allow_sha1=True)
    sha1_digest = signed(acs, idp_keys, digest=DS_SHA1)
    assert "digest algorithm" in str(refused(sha1_digest, idp_keys, "DisallowedAlgorithm"))
    verify(sha1_digest, idp_keys, allow_sha1=True)
    # The opt-in admits SHA-1 only, not any other algorithm.
    dsa = signed(acs, idp_keys)
    one(dsa, ".//ds:SignatureMethod").set("Algorithm", "http://www.w3.org/2000/09/xmldsig#dsa-sha1")
    refused(dsa, idp_keys, "DisallowedAlgorithm", allow_sha1=True)
    md5 = signed(acs, idp_keys)
    one(md5, ".//ds:DigestMethod").set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#md5")
    refused(md5, idp_keys, "DisallowedAlgorithm", allow_sha1=True)


def test_inclusive_canonicalization_is_refused(acs: Acs, idp_keys: KeyPair) -> None:
    element = signed(acs, idp_keys)
    one(element, ".//ds:CanonicalizationMethod").set("Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
    refused(element, idp_keys, "SignatureProfile")


# --- transforms ------------------------------------------------------------------------------------


def test_enveloped_alone_is_one_transform_and_enough(acs: Acs, idp_keys: KeyPair) -> None:
    element = signed(acs, idp_keys, transforms=(ENVELOPED,))
    verify(element, idp_keys)


@pytest.mark.parametrize(
    "transforms",
    [
        pytest.param((ENVELOPED, EXC_C14N, EXC_C14N_COMMENTS), id="three"),
        pytest.param((ENVELOPED, EXC_C14N, EXC_C14N), id="three-with-a-repeat"),
        pytest.param((EXC_C14N,), id="no-enveloped"),
        pytest.param((), id="none"),
    ],
)
def test_transform_lists_outside_the_profile_are_refused(
    acs: Acs, idp_keys: KeyPair, transforms: tuple[str, ...]
) -> None:
    element = signed(acs, idp_keys, transforms=transforms)
    assert "transforms" in str(refused(element, idp_keys, "SignatureProfile"))


def test_a_transform_outside_the_list_is_refused(acs: Acs, idp_keys: KeyPair) -> None:
    element = signed(acs, idp_keys)
    transforms = element.findall(".//{http://www.w3.org/2000/09/xmldsig#}Transform")
    transforms[1].set("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
    refused(element, idp_keys, "SignatureProfile")


# --- encryption ------------------------------------------------------------------------------------


def encrypted_assertion(acs: Acs, data: str) -> etree._Element:
    response = build_response(acs.options(sign_assertion=acs.idp.signer()))
    wrapper = encrypt(one(response, ".//saml:Assertion"), Encryption(acs.sp.cert_pem, data=data))  # type: ignore[arg-type]
    return wrapper


def test_the_encryption_allow_lists_are_exactly_these() -> None:
    assert {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2009/xmlenc11#aes192-gcm",
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    } == DATA_ENCRYPTION_GCM
    assert {"http://www.w3.org/2001/04/xmlenc#aes128-cbc", "http://www.w3.org/2001/04/xmlenc#aes256-cbc"} == (
        DATA_ENCRYPTION_CBC
    )
    assert {"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p", "http://www.w3.org/2009/xmlenc11#rsa-oaep"} == (
        KEY_TRANSPORT
    )


@pytest.mark.parametrize("data", ["aes128-gcm", "aes256-gcm"])
def test_gcm_decrypts_without_any_opt_in(acs: Acs, data: str) -> None:
    decrypted = decrypt_assertion(encrypted_assertion(acs, data), [acs.sp.key_pem])
    assert decrypted.tag == q("saml", "Assertion")


@pytest.mark.parametrize("data", ["aes128-cbc", "aes256-cbc"])
def test_cbc_decrypts_only_with_the_opt_in(acs: Acs, data: str) -> None:
    with pytest.raises(SamlError) as caught:
        decrypt_assertion(encrypted_assertion(acs, data), [acs.sp.key_pem])
    assert caught.value.code == "DisallowedAlgorithm"
    with pytest.raises(SamlError):
        check_encryption_algorithms(encrypted_assertion(acs, data))
    decrypted = decrypt_assertion(encrypted_assertion(acs, data), [acs.sp.key_pem], allow_cbc=True)
    assert decrypted.tag == q("saml", "Assertion")
    assert check_encryption_algorithms(encrypted_assertion(acs, data), allow_cbc=True).endswith(data)


def test_the_pysaml2_backend_never_decrypts_cbc(acs: Acs) -> None:
    response = build_response(acs.options(sign_assertion=acs.idp.signer()))
    encrypt(one(response, ".//saml:Assertion"), Encryption(acs.sp.cert_pem, data="aes256-cbc"))
    text = etree.tostring(response, encoding="unicode")
    with pytest.raises(XmlsecError, match="DisallowedAlgorithm"):
        XmlsecBindingsBackend().decrypt(text, acs.sp.key_pem.decode())


def test_the_xmlenc11_rsa_oaep_key_transport_is_allowed(acs: Acs) -> None:
    wrapper = encrypted_assertion(acs, "aes256-gcm")
    method = wrapper.find(f".//{q('xenc', 'EncryptedKey')}/{q('xenc', 'EncryptionMethod')}")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2009/xmlenc11#rsa-oaep")
    assert check_encryption_algorithms(wrapper) == "http://www.w3.org/2009/xmlenc11#aes256-gcm"
    method.set("Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-1_5")
    with pytest.raises(SamlError, match="key transport"):
        check_encryption_algorithms(wrapper)


def test_a_transported_key_of_the_wrong_length_is_refused(acs: Acs) -> None:
    # Encrypted with AES-128 but labelled AES-256: the transported key is 16 bytes, 32 expected.
    wrapper = encrypted_assertion(acs, "aes128-gcm")
    data_method = wrapper.find(f"{q('xenc', 'EncryptedData')}/{q('xenc', 'EncryptionMethod')}")
    assert data_method is not None
    data_method.set("Algorithm", "http://www.w3.org/2009/xmlenc11#aes256-gcm")
    with pytest.raises(SamlError, match="16 bytes, 32 expected"):
        decrypt_assertion(wrapper, [acs.sp.key_pem])


def test_an_encrypted_assertion_without_a_data_method_is_refused(acs: Acs) -> None:
    wrapper = encrypted_assertion(acs, "aes256-gcm")
    data_method = wrapper.find(f"{q('xenc', 'EncryptedData')}/{q('xenc', 'EncryptionMethod')}")
    assert data_method is not None
    data_method.getparent().remove(data_method)
    with pytest.raises(SamlError, match="data encryption algorithm None"):
        check_encryption_algorithms(wrapper, allow_cbc=True)


# --- base64 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["PHg+PC94Pg=$", "PHg+PC94Pg", "PHg-PC94Pg==", "PHg+PC94Pg==\x00", "ðŸ"])
def test_base64_is_validated_strictly(text: str) -> None:
    with pytest.raises(SamlError, match="not valid base64") as caught:
        b64decode_strict(text)
    assert caught.value.code == "MalformedMessage"


def test_base64_whitespace_between_lines_is_ignored() -> None:
    assert b64decode_strict(" PHg+\r\nPC94\tPg==\n") == b"<x></x>"


def test_pem_from_base64_der_wraps_at_64_columns(idp_keys: KeyPair) -> None:
    body = "".join(line for line in idp_keys.cert_pem.decode().splitlines() if not line.startswith("-----"))
    spaced = " ".join(body[i : i + 10] for i in range(0, len(body), 10))
    assert pem_from_base64_der(spaced) == idp_keys.cert_pem


# --- verification details --------------------------------------------------------------------------


def test_any_pinned_certificate_may_verify(acs: Acs, idp_keys: KeyPair, attacker_keys: KeyPair) -> None:
    """During a key rollover the metadata pins two certificates; an unreadable one is skipped."""
    element = signed(acs, idp_keys)
    signature = signature_of(element)
    assert signature is not None
    verify_enveloped(element, signature, [attacker_keys.cert_pem, idp_keys.cert_pem])
    verify_enveloped(element, signature, [b"not a certificate", idp_keys.cert_pem])
    with pytest.raises(SamlError) as caught:
        verify_enveloped(element, signature, [b"not a certificate", attacker_keys.cert_pem])
    assert caught.value.code == "BadSignature"
    with pytest.raises(SamlError) as caught:
        verify_enveloped(element, signature, [])
    assert caught.value.code == "BadSignature"


def test_two_signatures_on_one_element_are_refused(acs: Acs, idp_keys: KeyPair) -> None:
    element = signed(acs, idp_keys)
    signature = signature_of(element)
    assert signature is not None
    signature.addnext(etree.fromstring(etree.tostring(signature)))
    with pytest.raises(SamlError) as caught:
        signature_of(element)
    assert caught.value.code == "SignatureProfile"


def test_a_signature_carrying_an_object_is_refused(acs: Acs, idp_keys: KeyPair) -> None:
    element = signed(acs, idp_keys)
    signature = signature_of(element)
    assert signature is not None
    etree.SubElement(signature, "{http://www.w3.org/2000/09/xmldsig#}Object")
    assert "ds:Object" in str(refused(element, idp_keys, "SignatureProfile"))


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda e: e.attrib.pop("ID"), "has no ID"),
        (lambda e: signature_of(e).remove(one(e, ".//ds:SignedInfo")), "no SignedInfo"),  # type: ignore[union-attr]
        (lambda e: one(e, ".//ds:Reference").set("URI", "#elsewhere"), "does not point at"),
        (
            lambda e: one(e, ".//ds:SignedInfo").append(etree.fromstring(etree.tostring(one(e, ".//ds:Reference")))),
            "exactly one Reference",
        ),
    ],
)
def test_profile_refusals_carry_their_code(acs: Acs, idp_keys: KeyPair, change: object, detail: str) -> None:
    element = signed(acs, idp_keys)
    change(element)  # type: ignore[operator]
    assert detail in str(refused(element, idp_keys, "SignatureProfile"))


# --- decryption details ----------------------------------------------------------------------------


def aes192_gcm_assertion(acs: Acs) -> etree._Element:
    """An assertion encrypted with AES-192-GCM, which the factory does not offer."""
    response = build_response(acs.options(sign_assertion=acs.idp.signer()))
    assertion = one(response, ".//saml:Assertion")
    wrapper = etree.Element(q("saml", "EncryptedAssertion"))
    assertion.getparent().replace(assertion, wrapper)
    wrapper.append(assertion)
    template = xmlsec.template.encrypted_data_create(
        wrapper, xmlsec.constants.TransformAes192Gcm, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(acs.sp.cert_pem, xmlsec.constants.KeyDataFormatCertPem))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, 192, xmlsec.constants.KeyDataTypeSession)
    ctx.encrypt_xml(template, assertion)
    return etree.fromstring(etree.tostring(wrapper))


def test_aes192_gcm_decrypts(acs: Acs) -> None:
    assert decrypt_assertion(aes192_gcm_assertion(acs), [acs.sp.key_pem]).tag == q("saml", "Assertion")


def test_any_sp_key_may_decrypt(acs: Acs, other_sp_keys: KeyPair) -> None:
    wrapper = encrypted_assertion(acs, "aes256-gcm")
    assert decrypt_assertion(wrapper, [other_sp_keys.key_pem, acs.sp.key_pem]).tag == q("saml", "Assertion")
    with pytest.raises(SamlError, match="no SP key decrypts"):
        decrypt_assertion(encrypted_assertion(acs, "aes256-gcm"), [other_sp_keys.key_pem])


def test_a_ciphertext_that_is_not_an_assertion_is_refused(acs: Acs) -> None:
    from tests.support.saml_factory import encrypted_plaintext

    wrapper = encrypted_plaintext(b"<foo/>", acs.sp.cert_pem)
    with pytest.raises(SamlError, match="did not hold a saml:Assertion") as caught:
        decrypt_assertion(wrapper, [acs.sp.key_pem])
    assert caught.value.code == "DecryptionFailed"


# --- signing (the broker's own and the pysaml2 backend) -----------------------------------------


def test_sign_enveloped_defaults_place_and_replace_the_signature(acs: Acs, idp_keys: KeyPair) -> None:
    from broker.saml.xmldsig import sign_enveloped

    element = assertion_of(acs)
    sign_enveloped(element, idp_keys.key_pem, idp_keys.cert_pem)
    sign_enveloped(element, idp_keys.key_pem, idp_keys.cert_pem)  # again: the old signature is replaced
    element = etree.fromstring(etree.tostring(element))
    assert [etree.QName(child).localname for child in element][:3] == ["Issuer", "Signature", "Subject"]
    verify(element, idp_keys)
    method = one(element, ".//ds:SignatureMethod").get("Algorithm")
    assert (method, one(element, ".//ds:DigestMethod").get("Algorithm")) == (f"{XMLDSIG_MORE}rsa-sha256", SHA256)


def test_sign_enveloped_without_issuer_puts_the_signature_first(acs: Acs, idp_keys: KeyPair) -> None:
    from broker.saml.xmldsig import sign_enveloped

    element = assertion_of(acs)
    element.remove(one(element, "saml:Issuer"))
    sign_enveloped(element, idp_keys.key_pem, idp_keys.cert_pem, f"{XMLDSIG_MORE}rsa-sha512", _SHA512)
    element = etree.fromstring(etree.tostring(element))
    assert etree.QName(element[0]).localname == "Signature"
    verify(element, idp_keys)


_SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"


@pytest.mark.parametrize("method", ["sign_statement", "decrypt", "encrypt_assertion"])
def test_the_backend_raises_only_xmlsec_errors(acs: Acs, method: str) -> None:
    backend = XmlsecBindingsBackend()
    key = acs.sp.key_pem.decode()
    calls = {
        "sign_statement": lambda: backend.sign_statement("<not xml", "urn:x:Assertion", key, None),
        "decrypt": lambda: backend.decrypt("<not xml", key),
        "encrypt_assertion": lambda: backend.encrypt_assertion("<not xml", acs.sp.cert_pem.decode(), ""),
    }
    with pytest.raises(XmlsecError):
        calls[method]()


def test_a_processing_instruction_in_the_plaintext_is_forbidden(acs: Acs) -> None:
    from tests.support.saml_factory import encrypted_plaintext

    plaintext = b'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><?evil x?></saml:Assertion>'
    with pytest.raises(SamlError) as caught:
        decrypt_assertion(encrypted_plaintext(plaintext, acs.sp.cert_pem), [acs.sp.key_pem])
    assert caught.value.code == "ForbiddenXml"
