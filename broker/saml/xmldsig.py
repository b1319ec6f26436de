"""XML Signature and XML Encryption in-process, on the ``xmlsec`` Python bindings.

Nothing leaves the process and nothing touches the disk: keys are loaded from memory, the exact signed
node is verified against pinned certificates only (keys inside a message are never used), and
the SAML signature profile (saml-core 5.4) is enforced before any cryptography runs.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import ParamSpec, TypeVar

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from saml2.sigver import CryptoBackend, XmlsecError

from broker.saml.errors import SamlError
from broker.saml.xmlsafe import NS, parse_xml, q

DS_RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
DS_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SIGNATURE_ALGORITHMS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
}
DIGEST_ALGORITHMS = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
}
C14N_ALGORITHMS = {"http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"}
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
TRANSFORMS = C14N_ALGORITHMS | {ENVELOPED}

KEY_TRANSPORT = {"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p", "http://www.w3.org/2009/xmlenc11#rsa-oaep"}
DATA_ENCRYPTION_GCM = {
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
}
_AES_KEY_BYTES = {
    "http://www.w3.org/2009/xmlenc11#aes128-gcm": 16,
    "http://www.w3.org/2009/xmlenc11#aes192-gcm": 24,
    "http://www.w3.org/2009/xmlenc11#aes256-gcm": 32,
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc": 16,
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc": 32,
}
# CBC is open to padding-oracle attacks on XML Encryption; only per-provider opt-in (ADFS, Entra).
DATA_ENCRYPTION_CBC = {
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
}


@lru_cache(maxsize=256)
def _cert_key(cert_pem: bytes) -> xmlsec.Key:
    return xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)


@lru_cache(maxsize=256)
def _verification_key(cert_pem: bytes) -> xmlsec.Key | None:
    """The certificate's public key alone (None if unreadable): handing a context a key that
    carries its certificate copies the certificate on every verification (~30 us); the key
    itself is all a pinned-key check uses."""
    try:
        public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
        pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
    except (ValueError, TypeError, xmlsec.Error):
        return None


@lru_cache(maxsize=16)
def _recipient_keys(cert_pem: bytes) -> xmlsec.KeysManager:
    """A keys manager holding one recipient certificate, made once: creating one costs ~7 ms.
    It is only read afterwards (xmlsec copies the key it finds)."""
    manager = xmlsec.KeysManager()
    manager.add_key(_cert_key(cert_pem))
    return manager


@lru_cache(maxsize=16)
def _private_key(key_pem: bytes) -> xmlsec.Key:
    return xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)


def pem_from_base64_der(b64: str) -> bytes:
    """Metadata carries certificates as base64 DER; xmlsec wants PEM."""
    body = "".join(b64.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


def check_unique_ids(root: etree._Element) -> None:
    """Signature wrapping relies on two nodes sharing an ID; refuse any duplicate."""
    seen: set[str] = set()
    for node in root.iter(etree.Element):
        value = node.get("ID")
        if value is None:
            continue
        if value in seen:
            raise SamlError("DuplicateId", f"ID {value!r} occurs more than once")
        seen.add(value)


def signature_of(element: etree._Element) -> etree._Element | None:
    """The enveloped signature: a direct ds:Signature child. More than one is refused."""
    found = element.findall(q("ds", "Signature"))
    if len(found) > 1:
        raise SamlError("SignatureProfile", f"{etree.QName(element).localname} has {len(found)} signatures")
    return found[0] if found else None


def _check_profile(element: etree._Element, signature: etree._Element, allow_sha1: bool) -> None:
    name = etree.QName(element).localname
    element_id = element.get("ID")
    if not element_id:
        raise SamlError("SignatureProfile", f"signed {name} has no ID")
    signed_info = signature.find(q("ds", "SignedInfo"))
    if signed_info is None:
        raise SamlError("SignatureProfile", "Signature has no SignedInfo")
    if signature.find(q("ds", "Object")) is not None:
        raise SamlError("SignatureProfile", "Signature carries a ds:Object")
    c14n = signed_info.find(q("ds", "CanonicalizationMethod"))
    if c14n is None or c14n.get("Algorithm") not in C14N_ALGORITHMS:
        raise SamlError("SignatureProfile", "SignedInfo must use exclusive canonicalization")
    method = signed_info.find(q("ds", "SignatureMethod"))
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in SIGNATURE_ALGORITHMS and not (allow_sha1 and algorithm == DS_RSA_SHA1):
        raise SamlError("DisallowedAlgorithm", f"signature algorithm {algorithm} is not allowed")
    references = signed_info.findall(q("ds", "Reference"))
    if len(references) != 1:
        raise SamlError("SignatureProfile", f"Signature must have exactly one Reference, has {len(references)}")
    reference = references[0]
    if reference.get("URI") != f"#{element_id}":
        raise SamlError("SignatureProfile", f"Reference URI {reference.get('URI')!r} does not point at the {name}")
    transforms = [t.get("Algorithm") for t in reference.iterfind(f"{q('ds', 'Transforms')}/{q('ds', 'Transform')}")]
    if ENVELOPED not in transforms or not 1 <= len(transforms) <= 2 or not set(transforms) <= TRANSFORMS:
        raise SamlError("SignatureProfile", f"transforms {transforms} are not enveloped + exclusive c14n")
    digest = reference.find(q("ds", "DigestMethod"))
    digest_algorithm = digest.get("Algorithm") if digest is not None else None
    if digest_algorithm not in DIGEST_ALGORITHMS and not (allow_sha1 and digest_algorithm == DS_SHA1):
        raise SamlError("DisallowedAlgorithm", f"digest algorithm {digest_algorithm} is not allowed")


def verify_enveloped(
    element: etree._Element, signature: etree._Element, certs: Sequence[bytes], allow_sha1: bool = False
) -> None:
    """Verify ``element``'s own enveloped signature with one of the pinned ``certs``."""
    _check_profile(element, signature, allow_sha1)
    if not certs:
        raise SamlError("BadSignature", "the provider's metadata has no signing certificate")
    for cert in certs:
        key = _verification_key(cert)
        if key is None:
            continue
        ctx = xmlsec.SignatureContext()
        ctx.register_id(element, "ID")
        ctx.key = key
        try:
            ctx.verify(signature)
        except xmlsec.Error:
            continue
        return
    raise SamlError("BadSignature", f"{etree.QName(element).localname} signature does not verify with the pinned key")


def _encryption_method(node: etree._Element) -> str | None:
    method = node.find(q("xenc", "EncryptionMethod"))
    return method.get("Algorithm") if method is not None else None


def check_encryption_algorithms(encrypted_assertion: etree._Element, allow_cbc: bool = False) -> str:
    """Refuse disallowed algorithms and shapes before any decryption is attempted; return the data
    algorithm. This runs before anything in the message is authenticated, so nothing may make
    xmlsec fetch or compute: the ciphertexts must be inline ``CipherValue``s (a
    ``CipherReference`` would have xmlsec read a URI, ``file://`` included, and run its
    transforms, XSLT included), and every reference must point into the document."""
    encrypted_data = encrypted_assertion.find(q("xenc", "EncryptedData"))
    if encrypted_data is None:
        raise SamlError("DecryptionFailed", "EncryptedAssertion has no EncryptedData")
    _check_encryption_shape(encrypted_assertion, encrypted_data)
    data_algorithm = _encryption_method(encrypted_data)
    allowed = DATA_ENCRYPTION_GCM | (DATA_ENCRYPTION_CBC if allow_cbc else set())
    if data_algorithm is None or data_algorithm not in allowed:
        raise SamlError("DisallowedAlgorithm", f"data encryption algorithm {data_algorithm} is not allowed")
    for encrypted_key in encrypted_assertion.iter(q("xenc", "EncryptedKey")):
        if _encryption_method(encrypted_key) not in KEY_TRANSPORT:
            raise SamlError("DisallowedAlgorithm", f"key transport {_encryption_method(encrypted_key)} is not allowed")
    return data_algorithm


XMLENC_ELEMENT = "http://www.w3.org/2001/04/xmlenc#Element"


def _check_encryption_shape(encrypted_assertion: etree._Element, encrypted_data: etree._Element) -> None:
    for forbidden in ("CipherReference", "Transforms"):
        if next(encrypted_assertion.iter(q("xenc", forbidden)), None) is not None:
            raise SamlError("DisallowedAlgorithm", f"EncryptedAssertion carries an xenc:{forbidden}")
    if next(encrypted_assertion.iter(q("ds", "Transforms"), q("ds", "Transform")), None) is not None:
        raise SamlError("DisallowedAlgorithm", "EncryptedAssertion carries transforms")
    for node in encrypted_assertion.iter(etree.Element):
        uri = node.get("URI")
        if uri is not None and not uri.startswith("#"):
            raise SamlError("DisallowedAlgorithm", "EncryptedAssertion refers outside the document")
    if encrypted_data.get("Type") not in (None, XMLENC_ELEMENT):
        raise SamlError("DecryptionFailed", "EncryptedData must hold an element")
    encrypted_keys = list(encrypted_assertion.iter(q("xenc", "EncryptedKey")))
    if any(key.get("Type") is not None for key in encrypted_keys):
        raise SamlError("DecryptionFailed", "EncryptedKey must hold a key, not XML")
    for holder in (encrypted_data, *encrypted_keys):
        cipher_data = holder.findall(q("xenc", "CipherData"))
        values = [child.tag for child in cipher_data[0].iterchildren(etree.Element)] if len(cipher_data) == 1 else []
        if values != [q("xenc", "CipherValue")]:
            raise SamlError("DecryptionFailed", "each ciphertext must be one inline xenc:CipherValue")


def decrypt_assertion(
    encrypted_assertion: etree._Element, key_pems: Iterable[bytes], allow_cbc: bool = False
) -> etree._Element:
    """Decrypt a saml:EncryptedAssertion in place and return the saml:Assertion it held."""
    data_algorithm = check_encryption_algorithms(encrypted_assertion, allow_cbc)
    encrypted_data = encrypted_assertion.find(q("xenc", "EncryptedData"))
    assert encrypted_data is not None  # checked above
    encrypted_keys = list(encrypted_assertion.iter(q("xenc", "EncryptedKey")))
    if len(encrypted_keys) != 1:
        raise SamlError("DecryptionFailed", f"expected one EncryptedKey, found {len(encrypted_keys)}")
    encrypted_key = encrypted_keys[0]
    session_key: bytes | None = None
    for key_pem in key_pems:
        # The SP key is handed to the context directly: a KeysManager per call costs ~7 ms
        # (it sets up an X.509 store), and the EncryptedKey's own KeyInfo must name no key anyway.
        ctx = xmlsec.EncryptionContext()
        ctx.key = _private_key(key_pem)
        try:
            session_key = ctx.decrypt(encrypted_key)
        # As for the data below: whatever the ciphertext holds, a precise refusal, never a 500.
        except (xmlsec.Error, IndexError, ValueError, TypeError):
            continue
        break
    if not isinstance(session_key, bytes):
        raise SamlError("DecryptionFailed", "no SP key decrypts the EncryptedKey")
    expected = _AES_KEY_BYTES[data_algorithm]
    if len(session_key) != expected:
        raise SamlError("DecryptionFailed", f"transported key is {len(session_key)} bytes, {expected} expected")
    # The key is already unwrapped; a KeyInfo left in place would make xmlsec try it again.
    key_info = encrypted_data.find(q("ds", "KeyInfo"))
    if key_info is not None:
        encrypted_data.remove(key_info)
    try:
        ctx = xmlsec.EncryptionContext()
        ctx.key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataAes, session_key)
        decrypted = ctx.decrypt(encrypted_data)
    # xmlsec raises IndexError (and friends) when the plaintext holds no element at all.
    except (xmlsec.Error, IndexError, ValueError, TypeError):
        raise SamlError("DecryptionFailed", "EncryptedData does not decrypt to XML with the transported key") from None
    if not isinstance(decrypted, etree._Element) or decrypted.tag != q("saml", "Assertion"):
        raise SamlError("DecryptionFailed", "EncryptedAssertion did not hold a saml:Assertion")
    for _node in decrypted.iter(etree.Entity, etree.ProcessingInstruction):
        raise SamlError("ForbiddenXml", "decrypted assertion contains entities or processing instructions")
    return decrypted


def sign_enveloped(
    element: etree._Element,
    key_pem: bytes,
    cert_pem: bytes,
    algorithm: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    digest: str = "http://www.w3.org/2001/04/xmlenc#sha256",
) -> etree._Element:
    """Add an enveloped signature to ``element`` (after its Issuer, as the SAML schema wants)."""
    transform_ids = {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": xmlsec.constants.TransformRsaSha256,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": xmlsec.constants.TransformRsaSha512,
        DS_RSA_SHA1: xmlsec.constants.TransformRsaSha1,
    }
    digest_ids = {
        "http://www.w3.org/2001/04/xmlenc#sha256": xmlsec.constants.TransformSha256,
        "http://www.w3.org/2001/04/xmlenc#sha512": xmlsec.constants.TransformSha512,
        DS_SHA1: xmlsec.constants.TransformSha1,
    }
    existing = signature_of(element)
    if existing is not None:
        element.remove(existing)
    signature = xmlsec.template.create(element, xmlsec.constants.TransformExclC14N, transform_ids[algorithm])
    issuer = element.find(q("saml", "Issuer"))
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    reference = xmlsec.template.add_reference(signature, digest_ids[digest], uri=f"#{element.get('ID')}")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.add_x509_data(key_info)
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    ctx.key = key
    ctx.sign(signature)
    return element


def encrypt_assertion(assertion: etree._Element, recipient_cert_pem: bytes) -> etree._Element:
    """Replace ``assertion`` (in its tree) by a saml:EncryptedAssertion: AES-256-GCM + RSA-OAEP.

    The plaintext is the assertion serialized on its own, declaring every namespace it uses, so
    an SP that parses it outside the Response (pysaml2 with its command-line backend, for one) reads it too.
    """
    plaintext = etree.tostring(assertion, encoding="UTF-8", xml_declaration=False, with_tail=False)
    parent = assertion.getparent()
    wrapper = etree.Element(q("saml", "EncryptedAssertion"), nsmap={"saml": NS["saml"]})
    if parent is not None:
        parent.replace(assertion, wrapper)
    template = xmlsec.template.encrypted_data_create(
        wrapper, xmlsec.constants.TransformAes256Gcm, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    wrapper.append(template)
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    enc_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_key)
    ctx = xmlsec.EncryptionContext(_recipient_keys(recipient_cert_pem))
    ctx.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession)
    ctx.encrypt_binary(template, plaintext)
    return wrapper


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _pysaml2_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """pysaml2 expects XmlsecError from a backend; translate the broker's SamlError."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except SamlError as exc:
            raise XmlsecError(str(exc)) from None

    return wrapper


class XmlsecBindingsBackend(CryptoBackend):  # type: ignore[misc]  # pysaml2 ships no type hints
    """pysaml2 crypto backend on the xmlsec bindings: in-process, keys from memory.

    pysaml2 hands a backend file names for keys; this one also accepts PEM content, so the
    broker never writes key material to temporary files.
    """

    @staticmethod
    def _pem(key_or_file: str | bytes) -> bytes:
        if isinstance(key_or_file, bytes):
            return key_or_file
        if key_or_file.lstrip().startswith("-----BEGIN"):
            return key_or_file.encode()
        with open(key_or_file, "rb") as fh:
            return fh.read()

    @staticmethod
    def _find(root: etree._Element, node_name: str, node_id: str | None) -> etree._Element:
        namespace, _, local = node_name.rpartition(":")
        for node in root.iter(f"{{{namespace}}}{local}"):
            if node_id is None or node.get("ID") == node_id:
                return node
        raise XmlsecError(f"no {node_name} with ID {node_id}")

    @_pysaml2_errors
    def sign_statement(self, statement: str | bytes, node_name: str, key_file: str, node_id: str | None) -> str:
        data = statement.encode() if isinstance(statement, str) else statement
        root = parse_xml(data)
        node = self._find(root, node_name, node_id)
        template = signature_of(node)
        if template is None:
            raise XmlsecError(f"{node_name} has no signature template")
        ctx = xmlsec.SignatureContext()
        ctx.register_id(node, "ID")
        ctx.key = xmlsec.Key.from_memory(self._pem(key_file), xmlsec.constants.KeyDataFormatPem)
        try:
            ctx.sign(template)
        except xmlsec.Error as exc:
            raise XmlsecError(str(exc)) from None
        return str(etree.tostring(root, encoding="unicode"))

    @_pysaml2_errors
    def validate_signature(
        self, signedtext: str | bytes, cert_file: str, cert_type: str, node_name: str, node_id: str | None
    ) -> bool:
        data = signedtext.encode() if isinstance(signedtext, str) else signedtext
        root = parse_xml(data)
        check_unique_ids(root)
        node = self._find(root, node_name, node_id)
        signature = signature_of(node)
        if signature is None:
            raise XmlsecError(f"{node_name} is not signed")
        try:
            verify_enveloped(node, signature, [self._pem(cert_file)])
        except SamlError as exc:
            raise XmlsecError(str(exc)) from None
        return True

    @_pysaml2_errors
    def decrypt(self, enctext: str | bytes, key_file: str) -> str:
        data = enctext.encode() if isinstance(enctext, str) else enctext
        root = parse_xml(data)
        for encrypted in list(root.iter(q("saml", "EncryptedAssertion"))):
            try:
                assertion = decrypt_assertion(encrypted, [self._pem(key_file)])
            except SamlError as exc:
                raise XmlsecError(str(exc)) from None
            encrypted.getparent().replace(encrypted, assertion)
        return str(etree.tostring(root, encoding="unicode"))

    def encrypt(self, text: str, recv_key: str, template: str, key_type: str) -> str:
        raise XmlsecError("raw XML encryption is not used by the broker; use encrypt_assertion")

    @_pysaml2_errors
    def encrypt_assertion(
        self, statement: str, enc_key: str, template: str, key_type: str = "", node_xpath: str | None = None
    ) -> str:
        root = parse_xml(statement.encode() if isinstance(statement, str) else statement)
        for assertion in list(root.iter(q("saml", "Assertion"))):
            encrypt_assertion(assertion, self._pem(enc_key))
        return str(etree.tostring(root, encoding="unicode"))


def b64decode_strict(value: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (ValueError, TypeError):
        raise SamlError("MalformedMessage", "SAMLResponse is not valid base64") from None
