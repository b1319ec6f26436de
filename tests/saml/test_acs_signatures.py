"""validate_response: signatures, the SAML signature profile, wrapping attacks, encryption, comments.

Documents are built and signed by the factory, then mutated the way an attacker would: after the
signature is computed, so only what a signature really protects keeps a forged message out.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from broker.saml.acs import ProviderTrust
from tests.saml.conftest import NOW, Acs, KeyPair
from tests.support.saml_factory import (
    ASSERTION_ID,
    AWS_ROLE,
    AWS_SESSION_NAME,
    DS,
    IDP_ENTITY_ID,
    RESPONSE_ID,
    RSA_SHA1,
    RSA_SHA256,
    RSA_SHA512,
    SAML,
    SAMLP,
    SHA1,
    SHA256,
    SHA512,
    SP_ENTITY_ID,
    Attr,
    DataEncryption,
    Encryption,
    all_of,
    build_response,
    clone,
    detach,
    encode,
    encrypt,
    encrypted_plaintext,
    insert_comment,
    one,
    replace_text,
    response_b64,
    set_key_info_certificate,
    sign,
)

EVIL_NAME_ID = "admin@corp.example"
Mutation = Callable[[etree._Element], None]


def assertion_signed(acs: Acs, **changes: object) -> etree._Element:
    return build_response(acs.options(**changes))


def response_signed(acs: Acs, **changes: object) -> etree._Element:
    return build_response(acs.options(sign_assertion=None, sign_response=acs.idp.signer(), **changes))


def extensions(root: etree._Element) -> etree._Element:
    """A samlp:Extensions element in its schema place (after Issuer and Signature, before Status)."""
    element = etree.Element(f"{{{SAMLP}}}Extensions")
    one(root, "samlp:Status").addprevious(element)
    return element


def advice(assertion: etree._Element) -> etree._Element:
    """A saml:Advice element in its schema place (after Conditions)."""
    element = etree.Element(f"{{{SAML}}}Advice")
    one(assertion, "saml:Conditions").addnext(element)
    return element


def evil_copy(assertion: etree._Element, new_id: str | None = "_evil", keep_signature: bool = False) -> etree._Element:
    """The attacker's assertion: a copy of the signed one naming someone else."""
    evil = clone(assertion)
    if new_id is not None:
        evil.set("ID", new_id)
    if not keep_signature:
        for signature in all_of(evil, "ds:Signature"):
            detach(signature)
    replace_text(one(evil, "saml:Subject/saml:NameID"), EVIL_NAME_ID)
    return evil


# ---------------------------------------------------------------------------------------------
# Which key signs


def test_unsigned_response_is_refused(acs: Acs) -> None:
    acs.refuse(response_b64(acs.options(sign_assertion=None)), "MissingSignature")


def test_unsigned_encrypted_assertion_is_refused(acs: Acs) -> None:
    message = response_b64(acs.options(sign_assertion=None, encrypt=Encryption(acs.sp.cert_pem)))
    # With nothing authenticating the ciphertext, every failure after decryption reads alike
    # (no oracle); the precise reason stays in the detail for logs and the audit trail.
    error = acs.refuse(message, "DecryptionFailed")
    assert error.internal is not None and "MissingSignature" in error.internal
    assert "MissingSignature" not in error.detail


def test_assertion_signed_with_another_key_and_its_own_cert_in_key_info(acs: Acs, attacker_keys: KeyPair) -> None:
    # The message carries the attacker's certificate in KeyInfo; only the pinned one may be used.
    root = assertion_signed(acs, sign_assertion=attacker_keys.signer())
    assert attacker_keys.cert_pem.splitlines()[1].decode() in etree.tostring(root, encoding="unicode")
    acs.refuse(encode(root), "BadSignature")


def test_assertion_signed_with_another_key_claiming_the_idp_cert(acs: Acs, attacker_keys: KeyPair) -> None:
    root = assertion_signed(acs, sign_assertion=attacker_keys.signer())
    set_key_info_certificate(one(root, "saml:Assertion/ds:Signature"), acs.idp.cert_pem)
    acs.refuse(encode(root), "BadSignature")


def test_response_signed_with_another_key(acs: Acs, attacker_keys: KeyPair) -> None:
    message = response_b64(acs.options(sign_assertion=None, sign_response=attacker_keys.signer()))
    acs.refuse(message, "BadSignature")


def test_good_response_signature_does_not_excuse_a_bad_assertion_signature(acs: Acs, attacker_keys: KeyPair) -> None:
    message = response_b64(acs.options(sign_assertion=attacker_keys.signer(), sign_response=acs.idp.signer()))
    acs.refuse(message, "BadSignature")


def test_provider_without_signing_certificates(acs: Acs) -> None:
    keyless = dataclasses.replace(acs.provider, signing_certs=())
    acs.refuse(response_b64(acs.options()), "BadSignature", provider=keyless)


def test_key_info_is_not_needed(acs: Acs) -> None:
    root = assertion_signed(acs)
    detach(one(root, "saml:Assertion/ds:Signature/ds:KeyInfo"))
    assert acs.accept(encode(root)).assertion_signed


@pytest.mark.parametrize("signing", ["current", "next"])
def test_key_rollover_accepts_any_pinned_certificate(acs: Acs, idp_next_keys: KeyPair, signing: str) -> None:
    provider = dataclasses.replace(acs.provider, signing_certs=(idp_next_keys.cert_pem, acs.idp.cert_pem))
    keys = acs.idp if signing == "current" else idp_next_keys
    message = response_b64(acs.options(sign_assertion=keys.signer(), sign_response=keys.signer()))
    acs.accept(message, provider=provider)


@pytest.mark.parametrize("signed_by", ["response", "assertion"])
def test_a_rolled_over_certificate_verifies_only_until_its_grace_period_ends(
    acs: Acs, idp_next_keys: KeyPair, signed_by: str
) -> None:
    # The IdP moved to its next key; the current one was dropped from its metadata at a refresh.
    if signed_by == "response":
        message = response_b64(acs.options(sign_assertion=None, sign_response=acs.idp.signer()))
    else:
        message = response_b64(acs.options())

    def until(end: dt.datetime) -> ProviderTrust:
        return dataclasses.replace(
            acs.provider, signing_certs=(idp_next_keys.cert_pem,), rollover_certs=((acs.idp.cert_pem, end),)
        )

    assert acs.accept(message, provider=until(NOW + dt.timedelta(seconds=1)), now=NOW)
    # Checked at validation, whatever the provider's cached options still list.
    acs.refuse(message, "BadSignature", provider=until(NOW), now=NOW)


def _set_text(path: str, text: str) -> Mutation:
    return lambda root: replace_text(one(root, path), text)


def _set_attribute(path: str, name: str, value: str) -> Mutation:
    return lambda root: one(root, path).set(name, value)


def _flip_base64(path: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        node = one(root, path)
        data = bytearray(base64.b64decode(node.text or ""))
        data[len(data) // 2] ^= 0x01
        node.text = base64.b64encode(bytes(data)).decode()

    return mutate


def _add_attribute_value(root: etree._Element) -> None:
    attribute = one(root, f"//saml:Attribute[@Name='{AWS_ROLE}']")
    value = clone(one(attribute, "saml:AttributeValue[1]"))
    replace_text(value, "arn:aws:iam::999999999999:role/Admin,arn:aws:iam::999999999999:saml-provider/Corp")
    attribute.append(value)


def _drop_attribute(root: etree._Element) -> None:
    detach(one(root, f"//saml:Attribute[@Name='{AWS_SESSION_NAME}']"))


ASSERTION_TAMPERING = [
    pytest.param(_set_text("//saml:NameID", EVIL_NAME_ID), id="name-id"),
    pytest.param(_set_text("//saml:NameID", "alice@corp.example "), id="name-id-whitespace"),
    pytest.param(
        _set_text(f"//saml:Attribute[@Name='{AWS_SESSION_NAME}']/saml:AttributeValue", "root"), id="attribute-value"
    ),
    pytest.param(_add_attribute_value, id="attribute-value-added"),
    pytest.param(_drop_attribute, id="attribute-removed"),
    pytest.param(_set_text("//saml:Audience", SP_ENTITY_ID + " "), id="audience"),
    pytest.param(_set_attribute("//saml:Conditions", "NotOnOrAfter", "2035-01-01T00:00:00Z"), id="conditions"),
    pytest.param(
        _set_attribute("//saml:NameID", "Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
        id="name-id-format",
    ),
    pytest.param(_flip_base64("//ds:SignatureValue"), id="signature-value"),
    pytest.param(_flip_base64("//ds:DigestValue"), id="digest-value"),
]


@pytest.mark.parametrize("mutate", ASSERTION_TAMPERING)
def test_assertion_tampered_after_signing(acs: Acs, mutate: Mutation) -> None:
    root = assertion_signed(acs)
    mutate(root)
    acs.refuse(encode(root), "BadSignature")


RESPONSE_TAMPERING = [
    *ASSERTION_TAMPERING,
    pytest.param(_set_attribute("/samlp:Response", "InResponseTo", "_req-attacker"), id="response-in-response-to"),
    pytest.param(_set_attribute("/samlp:Response", "IssueInstant", "2025-03-14T09:26:54Z"), id="issue-instant"),
    pytest.param(
        lambda root: one(root, "samlp:Status").append(etree.Element(f"{{{SAMLP}}}StatusMessage")),
        id="status-message-added",
    ),
]


@pytest.mark.parametrize("mutate", RESPONSE_TAMPERING)
def test_response_tampered_after_signing(acs: Acs, mutate: Mutation) -> None:
    root = response_signed(acs)
    mutate(root)
    acs.refuse(encode(root), "BadSignature")


# ---------------------------------------------------------------------------------------------
# Algorithms


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        pytest.param(RSA_SHA1, SHA1, id="rsa-sha1-sha1"),
        pytest.param(RSA_SHA256, SHA1, id="rsa-sha256-sha1-digest"),
        pytest.param(RSA_SHA1, SHA256, id="rsa-sha1-sha256-digest"),
    ],
)
@pytest.mark.parametrize("signed_part", ["assertion", "response"])
def test_sha1_needs_the_provider_opt_in(acs: Acs, algorithm: str, digest: str, signed_part: str) -> None:
    signer = acs.idp.signer(algorithm, digest)
    if signed_part == "assertion":
        options = acs.options(sign_assertion=signer)
    else:
        options = acs.options(sign_assertion=None, sign_response=signer)
    message = response_b64(options)
    acs.refuse(message, "DisallowedAlgorithm")
    acs.accept(message, provider=dataclasses.replace(acs.provider, allow_sha1=True))


def test_sha512_is_accepted(acs: Acs) -> None:
    signer = acs.idp.signer(RSA_SHA512, SHA512)
    acs.accept(response_b64(acs.options(sign_assertion=signer, sign_response=signer)))


@pytest.mark.parametrize(
    ("element", "algorithm"),
    [
        pytest.param("ds:SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256", id="hmac-sha256"),
        pytest.param("ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1", id="hmac-sha1"),
        pytest.param("ds:SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5", id="rsa-md5"),
        pytest.param("ds:SignatureMethod", "", id="empty-signature-method"),
        pytest.param("ds:Reference/ds:DigestMethod", "http://www.w3.org/2001/04/xmldsig-more#md5", id="md5"),
        pytest.param("ds:Reference/ds:DigestMethod", "http://www.w3.org/2001/04/xmlenc#ripemd160", id="ripemd160"),
    ],
)
def test_algorithms_outside_the_allow_list(acs: Acs, element: str, algorithm: str) -> None:
    root = assertion_signed(acs)
    one(root, f"saml:Assertion/ds:Signature/ds:SignedInfo/{element}").set("Algorithm", algorithm)
    # Refused before any cryptography, even for a provider that tolerates SHA-1.
    acs.refuse(encode(root), "DisallowedAlgorithm", provider=dataclasses.replace(acs.provider, allow_sha1=True))


def test_signature_method_missing(acs: Acs) -> None:
    root = assertion_signed(acs)
    detach(one(root, "saml:Assertion/ds:Signature/ds:SignedInfo/ds:SignatureMethod"))
    acs.refuse(encode(root), "DisallowedAlgorithm")


# ---------------------------------------------------------------------------------------------
# The SAML signature profile (saml-core 5.4)

SIGNED_INFO = "saml:Assertion/ds:Signature/ds:SignedInfo"
REFERENCE = SIGNED_INFO + "/ds:Reference"


def _add_transform(algorithm: str, at: int | None = None) -> Mutation:
    def mutate(root: etree._Element) -> None:
        transforms = one(root, REFERENCE + "/ds:Transforms")
        transform = etree.Element(f"{{{DS}}}Transform", Algorithm=algorithm)
        transforms.insert(len(transforms) if at is None else at, transform)

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        detach(one(root, path))

    return mutate


def _second_signature(root: etree._Element) -> None:
    signature = one(root, "saml:Assertion/ds:Signature")
    signature.addnext(clone(signature))


def _object(root: etree._Element) -> None:
    signature = one(root, "saml:Assertion/ds:Signature")
    holder = etree.SubElement(signature, f"{{{DS}}}Object")
    etree.SubElement(holder, f"{{{SAML}}}AttributeValue").text = "unsigned data"


def _second_reference(root: etree._Element) -> None:
    reference = one(root, REFERENCE)
    reference.addnext(clone(reference))


def _remove_uri(root: etree._Element) -> None:
    del one(root, REFERENCE).attrib["URI"]


def _remove_assertion_id(root: etree._Element) -> None:
    del one(root, "saml:Assertion").attrib["ID"]


PROFILE_VIOLATIONS = [
    pytest.param(_set_attribute(REFERENCE, "URI", f"#{RESPONSE_ID}"), id="uri-points-at-response"),
    pytest.param(_set_attribute(REFERENCE, "URI", ""), id="uri-whole-document"),
    pytest.param(_set_attribute(REFERENCE, "URI", "#_nowhere"), id="uri-points-nowhere"),
    pytest.param(_set_attribute(REFERENCE, "URI", f"#xpointer(id('{ASSERTION_ID}'))"), id="uri-xpointer"),
    pytest.param(_remove_uri, id="no-uri"),
    pytest.param(_remove_assertion_id, id="signed-assertion-without-id"),
    pytest.param(_second_signature, id="two-signatures"),
    pytest.param(_object, id="ds-object"),
    pytest.param(_second_reference, id="two-references"),
    pytest.param(_add_transform("http://www.w3.org/TR/1999/REC-xpath-19991116"), id="xpath-transform"),
    pytest.param(_add_transform("http://www.w3.org/TR/1999/REC-xslt-19991116", at=0), id="xslt-transform"),
    pytest.param(_drop(REFERENCE + "/ds:Transforms/ds:Transform[1]"), id="no-enveloped-transform"),
    pytest.param(_drop(REFERENCE + "/ds:Transforms"), id="no-transforms"),
    pytest.param(
        _set_attribute(
            SIGNED_INFO + "/ds:CanonicalizationMethod", "Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
        ),
        id="inclusive-c14n",
    ),
    pytest.param(_drop(SIGNED_INFO + "/ds:CanonicalizationMethod"), id="no-c14n"),
    pytest.param(_drop(SIGNED_INFO), id="no-signed-info"),
]


@pytest.mark.parametrize("mutate", PROFILE_VIOLATIONS)
def test_signature_profile_violations(acs: Acs, mutate: Mutation) -> None:
    root = assertion_signed(acs)
    mutate(root)
    acs.refuse(encode(root), "SignatureProfile")


def test_two_signatures_on_the_response(acs: Acs) -> None:
    root = response_signed(acs)
    signature = one(root, "ds:Signature")
    signature.addnext(clone(signature))
    acs.refuse(encode(root), "SignatureProfile")


def test_assertion_signature_pointing_at_the_response(acs: Acs) -> None:
    # A Response signature moved into the assertion still covers only the Response.
    root = response_signed(acs)
    one(root, "saml:Assertion/saml:Issuer").addnext(detach(one(root, "ds:Signature")))
    acs.refuse(encode(root), "SignatureProfile")


def _sign_custom(
    element: etree._Element, keys: KeyPair, c14n_transform: Any = None, inclusive_prefixes: tuple[str, ...] = ()
) -> None:
    """Sign like another IdP stack would: a chosen reference c14n, optional InclusiveNamespaces."""
    signature = xmlsec.template.create(element, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256)
    one(element, "saml:Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256, uri=f"#{element.get('ID')}")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    transform = xmlsec.template.add_transform(reference, c14n_transform or xmlsec.constants.TransformExclC14N)
    if inclusive_prefixes:
        xmlsec.template.transform_add_c14n_inclusive_namespaces(transform, list(inclusive_prefixes))
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    ctx.key = xmlsec.Key.from_memory(keys.key_pem, xmlsec.constants.KeyDataFormatPem)
    ctx.sign(signature)


def test_inclusive_namespaces_prefix_list_as_shibboleth_signs(acs: Acs) -> None:
    root = assertion_signed(acs, sign_assertion=None)
    _sign_custom(one(root, "saml:Assertion"), acs.idp, inclusive_prefixes=("xs", "xsi"))
    assert all_of(root, "//ds:Transform/*[local-name()='InclusiveNamespaces'][@PrefixList='xs xsi']")
    assert acs.accept(encode(root)).assertion_signed


def test_retrieval_method_in_key_info_is_never_followed(acs: Acs, attacker_keys: KeyPair) -> None:
    def point_key_info_away(root: etree._Element) -> None:
        key_info = one(root, "saml:Assertion/ds:Signature/ds:KeyInfo")
        for child in list(key_info):
            key_info.remove(child)
        etree.SubElement(
            key_info,
            f"{{{DS}}}RetrievalMethod",
            URI="http://127.0.0.1:9/attacker-cert.der",
            Type="http://www.w3.org/2000/09/xmldsig#rawX509Certificate",
        )

    root = assertion_signed(acs)
    point_key_info_away(root)
    acs.accept(encode(root))
    root = assertion_signed(acs, sign_assertion=attacker_keys.signer())
    point_key_info_away(root)
    acs.refuse(encode(root), "BadSignature")


def test_exclusive_c14n_with_comments_does_not_protect_comments_either(acs: Acs) -> None:
    # A same-document "#ID" reference drops comment nodes before any transform (XMLDSig 4.3.3.3),
    # so even exc-c14n#WithComments leaves comments unsigned: only reading text in full helps.
    owned = "alice@corp.example.evil.example"
    root = assertion_signed(acs, sign_assertion=None, name_id=owned)
    _sign_custom(one(root, "saml:Assertion"), acs.idp, xmlsec.constants.TransformExclC14NWithComments)
    insert_comment(one(root, "//saml:NameID"), len("alice@corp.example"))
    assertion = acs.accept(encode(root))
    assert assertion.assertion_signed
    assert assertion.subject == owned


# ---------------------------------------------------------------------------------------------
# XML signature wrapping


def _duplicate_moved_to_extensions(root: etree._Element) -> None:
    # XSW: the signed original hides in Extensions; a forged copy with the same ID takes its place.
    original = one(root, "saml:Assertion")
    original.addprevious(evil_copy(original, new_id=None, keep_signature=True))
    extensions(root).append(detach(original))


def _duplicate_in_own_advice(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    forged = evil_copy(original, new_id=None, keep_signature=True)
    original.addprevious(forged)
    advice(forged).append(detach(original))


def _duplicate_response_id(root: etree._Element) -> None:
    root.set("ID", ASSERTION_ID)


def _duplicate_id_on_another_element(root: etree._Element) -> None:
    one(root, "samlp:Status").set("ID", ASSERTION_ID)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_duplicate_moved_to_extensions, id="copy-with-same-id-original-in-extensions"),
        pytest.param(_duplicate_in_own_advice, id="copy-with-same-id-original-in-its-advice"),
        pytest.param(_duplicate_response_id, id="response-id-equals-assertion-id"),
        pytest.param(_duplicate_id_on_another_element, id="status-carries-the-assertion-id"),
    ],
)
def test_wrapping_with_duplicate_ids(acs: Acs, mutate: Mutation) -> None:
    root = assertion_signed(acs)
    mutate(root)
    acs.refuse(encode(root), "DuplicateId")


def _evil_in_extensions(root: etree._Element) -> None:
    extensions(root).append(evil_copy(one(root, "saml:Assertion")))


def _evil_in_advice(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    advice(original).append(evil_copy(original))


def _original_in_evil_advice(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    forged = evil_copy(original)
    original.addprevious(forged)
    advice(forged).append(detach(original))


def _evil_first_sibling(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    original.addprevious(evil_copy(original))


def _evil_last_sibling(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    original.addnext(evil_copy(original))


def _original_in_evil_signature_object(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    forged = evil_copy(original, keep_signature=True)
    original.addprevious(forged)
    holder = etree.SubElement(one(forged, "ds:Signature"), f"{{{DS}}}Object")
    holder.append(detach(original))


def _original_in_foreign_wrapper(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    forged = evil_copy(original)
    original.addprevious(forged)
    wrapper = etree.Element("{urn:attacker}Wrapper")
    forged.addnext(wrapper)
    wrapper.append(detach(original))


def _original_moved_to_extensions_only(root: etree._Element) -> None:
    extensions(root).append(detach(one(root, "saml:Assertion")))


def _original_wrapped_only(root: etree._Element) -> None:
    original = one(root, "saml:Assertion")
    wrapper = etree.Element("{urn:attacker}Wrapper")
    original.addprevious(wrapper)
    wrapper.append(detach(original))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_evil_in_extensions, id="evil-in-extensions"),
        pytest.param(_evil_in_advice, id="evil-in-signed-assertion-advice"),
        pytest.param(_original_in_evil_advice, id="signed-in-evil-advice"),
        pytest.param(_evil_first_sibling, id="evil-before-signed"),
        pytest.param(_evil_last_sibling, id="evil-after-signed"),
        pytest.param(_original_in_evil_signature_object, id="signed-in-evil-signature-object"),
        pytest.param(_original_in_foreign_wrapper, id="signed-in-foreign-wrapper"),
        pytest.param(_original_moved_to_extensions_only, id="signed-moved-to-extensions"),
        pytest.param(_original_wrapped_only, id="signed-moved-into-wrapper"),
    ],
)
def test_wrapping_with_a_second_or_displaced_assertion(acs: Acs, mutate: Mutation) -> None:
    root = assertion_signed(acs)
    mutate(root)
    acs.refuse(encode(root), "AssertionCount")


def test_wrapping_displaced_encrypted_assertion(acs: Acs) -> None:
    root = assertion_signed(acs, encrypt=Encryption(acs.sp.cert_pem))
    encrypted = one(root, "saml:EncryptedAssertion")
    encrypted.addprevious(evil_copy(assertion_signed(acs, sign_assertion=None).find(f"{{{SAML}}}Assertion")))
    extensions(root).append(detach(encrypted))
    acs.refuse(encode(root), "AssertionCount")


def _forged_response_around_signed_one(acs: Acs, forged_id: str) -> etree._Element:
    """XSW on a signed Response: a forged Response carries the original in its Extensions."""
    original = response_signed(acs)
    forged = clone(original)
    forged.set("ID", forged_id)
    replace_text(one(forged, "saml:Assertion/saml:Subject/saml:NameID"), EVIL_NAME_ID)
    detach(one(original, "saml:Assertion"))  # one assertion in all, so only the signature can object
    extensions(forged).append(original)
    return forged


def test_wrapping_signed_response_inside_forged_response(acs: Acs) -> None:
    acs.refuse(encode(_forged_response_around_signed_one(acs, "_resp-forged")), "SignatureProfile")


def test_wrapping_signed_response_inside_forged_response_with_its_id(acs: Acs) -> None:
    acs.refuse(encode(_forged_response_around_signed_one(acs, RESPONSE_ID)), "DuplicateId")


def test_signature_transplanted_onto_forged_assertion(acs: Acs) -> None:
    root = assertion_signed(acs)
    original = one(root, "saml:Assertion")
    root.replace(original, evil_copy(original, new_id=None, keep_signature=True))
    acs.refuse(encode(root), "BadSignature")


def test_decrypted_assertion_id_colliding_with_the_response_id(acs: Acs) -> None:
    # IDs inside an EncryptedAssertion are only visible after decryption; they are checked again.
    message = response_b64(acs.options(assertion_id=RESPONSE_ID, encrypt=Encryption(acs.sp.cert_pem)))
    error = acs.refuse(message, "DecryptionFailed")  # unsigned Response: reported uniformly
    assert error.internal is not None and "DuplicateId" in error.internal


# ---------------------------------------------------------------------------------------------
# Encryption


@pytest.mark.parametrize("data", ["aes256-gcm", "aes128-gcm"])
def test_gcm_encryption_is_accepted(acs: Acs, data: DataEncryption) -> None:
    message = response_b64(acs.options(encrypt=Encryption(acs.sp.cert_pem, data=data)))
    root = etree.fromstring(base64.b64decode(message))
    assert all_of(root, "saml:Assertion") == []
    assertion = acs.accept(message)
    assert assertion.encrypted
    assert assertion.subject == "alice@corp.example"


@pytest.mark.parametrize("data", ["aes128-cbc", "aes256-cbc"])
def test_cbc_needs_the_provider_opt_in(acs: Acs, data: DataEncryption) -> None:
    message = response_b64(acs.options(encrypt=Encryption(acs.sp.cert_pem, data=data)))
    acs.refuse(message, "DisallowedAlgorithm")
    assertion = acs.accept(message, provider=dataclasses.replace(acs.provider, allow_cbc=True))
    assert assertion.encrypted


def test_cbc_opt_in_needs_the_response_issuer(acs: Acs) -> None:
    # Which provider sent an encrypted assertion is only known before decrypting from the Response
    # Issuer; without one, CBC stays refused rather than decrypting first (no padding oracle).
    message = response_b64(acs.options(issuer=None, encrypt=Encryption(acs.sp.cert_pem, data="aes128-cbc")))
    acs.refuse(message, "DisallowedAlgorithm", provider=dataclasses.replace(acs.provider, allow_cbc=True))


def test_rsa_v15_key_transport_is_refused(acs: Acs) -> None:
    message = response_b64(acs.options(encrypt=Encryption(acs.sp.cert_pem, key_transport="rsa-1_5")))
    acs.refuse(message, "DisallowedAlgorithm", provider=dataclasses.replace(acs.provider, allow_cbc=True))


def test_encrypted_to_another_key(acs: Acs, other_sp_keys: KeyPair) -> None:
    message = response_b64(acs.options(encrypt=Encryption(other_sp_keys.cert_pem), sign_response=acs.idp.signer()))
    acs.refuse(message, "DecryptionFailed")


def test_any_configured_decryption_key_is_tried(acs: Acs, other_sp_keys: KeyPair) -> None:
    policy = dataclasses.replace(acs.policy, decryption_keys=(other_sp_keys.key_pem, acs.sp.key_pem))
    message = response_b64(acs.options(encrypt=Encryption(acs.sp.cert_pem)))
    assert acs.accept(message, policy=policy).encrypted


def test_encrypted_key_beside_encrypted_data(acs: Acs) -> None:
    # OpenSAML/Shibboleth place the EncryptedKey next to EncryptedData, not inside its KeyInfo.
    root = assertion_signed(acs, encrypt=Encryption(acs.sp.cert_pem))
    wrapper = one(root, "saml:EncryptedAssertion")
    wrapper.append(detach(one(wrapper, "xenc:EncryptedData/ds:KeyInfo/xenc:EncryptedKey")))
    assert acs.accept(encode(root)).encrypted


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_flip_base64("//xenc:EncryptedData/xenc:CipherData/xenc:CipherValue"), id="ciphertext"),
        pytest.param(_flip_base64("//xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue"), id="encrypted-key"),
        pytest.param(_drop("//xenc:EncryptedData"), id="no-encrypted-data"),
        pytest.param(
            lambda root: one(root, "//xenc:EncryptedKey").addnext(clone(one(root, "//xenc:EncryptedKey"))),
            id="two-encrypted-keys",
        ),
        pytest.param(_drop("//xenc:EncryptedKey"), id="no-encrypted-key"),
    ],
)
def test_encrypted_assertion_damaged(acs: Acs, mutate: Mutation) -> None:
    root = assertion_signed(acs, encrypt=Encryption(acs.sp.cert_pem))
    mutate(root)
    acs.refuse(encode(root), "DecryptionFailed")


def test_encrypted_assertion_holding_something_else(acs: Acs) -> None:
    root = response_signed(acs)
    detach(one(root, "ds:Signature"))
    assertion = one(root, "saml:Assertion")
    wrapper = encrypt(clone(one(assertion, "saml:Subject")), Encryption(acs.sp.cert_pem))
    root.replace(assertion, wrapper)
    sign(root, acs.idp.signer())
    acs.refuse(encode(root), "DecryptionFailed")


def _assertion_xml(body: str = f"<saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>") -> str:
    return (
        f'<saml:Assertion xmlns:saml="{SAML}" ID="_decrypted" Version="2.0" '
        f'IssueInstant="2025-03-14T09:26:53Z">{body}</saml:Assertion>'
    )


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(
            '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _assertion_xml("<saml:Issuer>&x;</saml:Issuer>"),
            id="xxe",
        ),
        pytest.param(
            '<!DOCTYPE a [<!ENTITY l "lol"><!ENTITY l2 "&l;&l;&l;&l;&l;&l;&l;&l;&l;&l;">]>'
            + _assertion_xml("<saml:Issuer>&l2;</saml:Issuer>"),
            id="entity-expansion",
        ),
        pytest.param(_assertion_xml("<saml:Issuer>&x;</saml:Issuer>"), id="undeclared-entity"),
        pytest.param("<?xml-stylesheet href='x.xsl'?>" + _assertion_xml(), id="processing-instruction-first"),
        pytest.param(f'<saml:Subject xmlns:saml="{SAML}"/>', id="not-an-assertion"),
        pytest.param("text<a/>", id="text-then-element"),
        pytest.param(b"\xff\xfe\x00".decode("latin-1"), id="binary"),
    ],
)
def test_hostile_plaintext_inside_encrypted_assertion(acs: Acs, plaintext: str) -> None:
    # Decryption runs before any signature is checked: its output is hostile input too.
    root = assertion_signed(acs, sign_assertion=None)
    root.replace(one(root, "saml:Assertion"), encrypted_plaintext(plaintext.encode(), acs.sp.cert_pem))
    error = acs.refuse(encode(root), "DecryptionFailed")
    assert "root:" not in error.detail


def test_encrypted_key_wrapping_an_empty_session_key(acs: Acs) -> None:
    root = assertion_signed(acs, encrypt=Encryption(acs.sp.cert_pem))
    public_key = x509.load_pem_x509_certificate(acs.sp.cert_pem).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    wrapped = public_key.encrypt(b"", padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))  # noqa: S303
    one(root, "//xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue").text = base64.b64encode(wrapped).decode()
    acs.refuse(encode(root), "DecryptionFailed")


@pytest.mark.parametrize("plaintext", ["garbage", "   ", "&amp;"])
def test_text_only_plaintext_inside_encrypted_assertion(acs: Acs, plaintext: str) -> None:
    root = assertion_signed(acs, sign_assertion=None)
    root.replace(one(root, "saml:Assertion"), encrypted_plaintext(plaintext.encode(), acs.sp.cert_pem))
    acs.refuse(encode(root), "DecryptionFailed")


# ---------------------------------------------------------------------------------------------
# Comments: read in full, and invisible to exclusive canonicalization


def test_comment_in_name_id_signed_by_the_idp_reads_in_full(acs: Acs) -> None:
    root = assertion_signed(acs, name_id="alice@evil.example<!---->.corp.example")
    name_id = one(root, "//saml:NameID")
    assert name_id.text == "alice@evil.example"
    assert len(name_id) == 1
    assertion = acs.accept(encode(root))
    assert assertion.assertion_signed
    assert assertion.subject == "alice@evil.example.corp.example"


def test_comment_in_attribute_value_signed_by_the_idp_reads_in_full(acs: Acs) -> None:
    attributes = (
        Attr(AWS_SESSION_NAME, ("alice<!-- display -->@corp.example",)),
        Attr(
            AWS_ROLE, ("arn:aws:iam::123456789012:role/Admin<!---->Audit,arn:aws:iam::123456789012:saml-provider/Corp",)
        ),
    )
    assertion = acs.accept(response_b64(acs.options(attributes=attributes, sign_response=acs.idp.signer())))
    assert assertion.attributes[AWS_SESSION_NAME] == ["alice@corp.example"]
    assert assertion.attributes[AWS_ROLE] == [
        "arn:aws:iam::123456789012:role/AdminAudit,arn:aws:iam::123456789012:saml-provider/Corp"
    ]


@pytest.mark.parametrize("signed_part", ["assertion", "response", "both"])
def test_comment_inserted_after_signing_keeps_the_signature_and_the_full_text(acs: Acs, signed_part: str) -> None:
    # The attacker owns alice@corp.example.evil.example and truncates it to alice@corp.example.
    owned = "alice@corp.example.evil.example"
    signer = acs.idp.signer()
    root = build_response(
        acs.options(
            name_id=owned,
            attributes=(Attr(AWS_SESSION_NAME, (owned,)),),
            sign_assertion=signer if signed_part != "response" else None,
            sign_response=signer if signed_part != "assertion" else None,
        )
    )
    insert_comment(one(root, "//saml:NameID"), len("alice@corp.example"))
    insert_comment(one(root, "//saml:AttributeValue"), len("alice@corp.example"))
    assertion = acs.accept(encode(root))
    assert assertion.subject == owned
    assert assertion.attributes[AWS_SESSION_NAME] == [owned]


def test_comment_in_issuer_reads_in_full(acs: Acs) -> None:
    issuer = IDP_ENTITY_ID + "<!---->.evil.example"
    message = response_b64(acs.options(issuer=issuer, assertion_issuer=issuer))
    acs.refuse(message, "UnknownIssuer")


def test_comment_inserted_into_audience_after_signing(acs: Acs) -> None:
    # An assertion the IdP issued for a look-alike SP; the attacker truncates its Audience.
    root = assertion_signed(acs, audience_restrictions=((SP_ENTITY_ID + ".evil.example",),))
    insert_comment(one(root, "//saml:Audience"), len(SP_ENTITY_ID))
    acs.refuse(encode(root), "WrongAudience")
