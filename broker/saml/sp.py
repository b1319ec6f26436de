"""The broker's service-provider side: its metadata and its AuthnRequests (pysaml2 objects).

AuthnRequests use the HTTP-Redirect binding; the query string is signed RSA-SHA256 in-process
with the SP signing key (saml-bindings 3.4.4.1), never SHA-1.

During an SP certificate rollover the metadata lists the staged certificates beside the current
ones (an IdP that refreshes it trusts both), and AuthnRequests are signed with the staged key
from ``switch_at`` on.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import zlib
from copy import deepcopy as copy_element
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2 import saml as saml2_saml
from saml2.config import IdPConfig, SPConfig
from saml2.metadata import create_metadata_string

from broker.iam.timestamps import aws_timestamp
from broker.saml.xmlsafe import q

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ENCRYPTION_METHODS = (
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
)
NAME_ID_FORMATS = (
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
)


_Config = TypeVar("_Config", SPConfig, IdPConfig)


def entity_config(config: _Config, entity_id: str, *, key_file: str, cert_file: str, **settings: Any) -> _Config:
    """``config`` loaded for one of the broker's SAML entities: its id, its signing key and
    certificate files, and the ``settings`` of its role (pysaml2's configuration keys).

    pysaml2 insists on naming a crypto backend; the broker never lets it secure a message:
    XML signatures and encryption go through :mod:`broker.saml.xmldsig`.
    """
    config.load(
        {"entityid": entity_id, "crypto_backend": "XMLSecurity", "key_file": key_file, "cert_file": cert_file}
        | settings
    )
    return config


@dataclass(frozen=True)
class SpKeys:
    signing_key_pem: bytes
    signing_cert_file: str
    signing_key_file: str
    encryption_cert_file: str
    encryption_key_file: str
    # A rollover in progress: the staged pairs' certificates and signing key, and when to sign with it.
    next_signing_key_pem: bytes | None = None
    next_signing_cert_pem: bytes | None = None
    next_encryption_cert_pem: bytes | None = None
    switch_at: dt.datetime | None = None


@dataclass(frozen=True)
class AuthnRedirect:
    request_id: str
    url: str


class ServiceProvider:
    def __init__(self, entity_id: str, acs_url: str, keys: SpKeys, organization: str = "SAML broker") -> None:
        self.entity_id = entity_id
        self.acs_url = acs_url
        self.keys = keys
        self.organization = organization

    @cached_property
    def _config(self) -> SPConfig:
        keys = self.keys
        return entity_config(
            SPConfig(),
            self.entity_id,
            key_file=keys.signing_key_file,
            cert_file=keys.signing_cert_file,
            encryption_keypairs=[{"key_file": keys.encryption_key_file, "cert_file": keys.encryption_cert_file}],
            service={
                "sp": {
                    "name": self.organization,
                    "endpoints": {"assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]},
                    "authn_requests_signed": True,
                    "want_assertions_or_response_signed": True,
                    "want_assertions_signed": False,
                    "want_response_signed": False,
                    "name_id_format_allow_create": True,
                }
            },
        )

    @cached_property
    def metadata_xml(self) -> str:
        """SP metadata with signing and encryption certificates (built once per process).

        The encryption KeyDescriptor names the algorithms the ACS accepts, so IdPs that read
        them (Keycloak, Shibboleth) pick AES-GCM with RSA-OAEP instead of falling back to CBC.
        """
        xml = create_metadata_string(None, config=self._config, valid=None, sign=False)
        root = etree.fromstring(xml if isinstance(xml, bytes) else xml.encode())
        staged = {"signing": self.keys.next_signing_cert_pem, "encryption": self.keys.next_encryption_cert_pem}
        for descriptor in list(root.iter(q("md", "KeyDescriptor"))):
            cert_pem = staged.get(descriptor.get("use", ""))
            if cert_pem is not None:
                descriptor.addnext(_with_certificate(descriptor, cert_pem))
        for descriptor in root.iter(q("md", "KeyDescriptor")):
            if descriptor.get("use") == "encryption":
                for algorithm in ENCRYPTION_METHODS:
                    etree.SubElement(descriptor, q("md", "EncryptionMethod"), Algorithm=algorithm)
        sp_descriptor = root.find(q("md", "SPSSODescriptor"))
        if sp_descriptor is not None:
            acs = sp_descriptor.find(q("md", "AssertionConsumerService"))
            for fmt in NAME_ID_FORMATS:
                element = etree.Element(q("md", "NameIDFormat"))
                element.text = fmt
                if acs is not None:
                    acs.addprevious(element)
        return str(etree.tostring(root, encoding="unicode"))

    @cached_property
    def _signing_key(self) -> rsa.RSAPrivateKey:
        return _rsa_key(self.keys.signing_key_pem)

    @cached_property
    def _next_signing_key(self) -> rsa.RSAPrivateKey | None:
        pem = self.keys.next_signing_key_pem
        return _rsa_key(pem) if pem is not None else None

    def signing_key_at(self, now: dt.datetime) -> rsa.RSAPrivateKey:
        """The key AuthnRequests are signed with at ``now``: the staged one once its delay has passed."""
        switch_at = self.keys.switch_at
        if self._next_signing_key is not None and switch_at is not None and now >= switch_at:
            return self._next_signing_key
        return self._signing_key

    def authn_request(
        self,
        destination: str,
        relay_state: str | None = None,
        force_authn: bool = False,
        now: dt.datetime | None = None,
    ) -> AuthnRedirect:
        """A signed HTTP-Redirect AuthnRequest to ``destination`` (the IdP's SSO URL)."""
        now = now or dt.datetime.now(dt.UTC)
        request_id = "id-" + secrets.token_hex(20)
        request = samlp.AuthnRequest(
            id=request_id,
            version="2.0",
            issue_instant=aws_timestamp(now),
            destination=destination,
            protocol_binding=BINDING_HTTP_POST,
            assertion_consumer_service_url=self.acs_url,
            issuer=saml2_saml.Issuer(text=self.entity_id, format=saml2_saml.NAMEID_FORMAT_ENTITY),
            name_id_policy=samlp.NameIDPolicy(allow_create="true"),
            force_authn="true" if force_authn else None,
        )
        xml = request.to_string()
        deflated = zlib.compress(xml if isinstance(xml, bytes) else xml.encode())[2:-4]  # raw DEFLATE
        params = [("SAMLRequest", base64.b64encode(deflated).decode())]
        if relay_state:
            params.append(("RelayState", relay_state))
        params.append(("SigAlg", RSA_SHA256))
        # The signature covers the exact encoded octets sent, in this order (bindings 3.4.4.1).
        signed_part = urlencode(params, quote_via=quote)
        signature = self.signing_key_at(now).sign(signed_part.encode(), padding.PKCS1v15(), hashes.SHA256())
        query = signed_part + "&" + urlencode({"Signature": base64.b64encode(signature).decode()}, quote_via=quote)
        separator = "&" if "?" in destination else "?"
        return AuthnRedirect(request_id=request_id, url=f"{destination}{separator}{query}")


def _rsa_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("SP signing key must be RSA")
    return key


def _with_certificate(descriptor: etree._Element, cert_pem: bytes) -> etree._Element:
    """A copy of a KeyDescriptor carrying ``cert_pem`` instead of its certificate."""
    copy = copy_element(descriptor)
    certificate = copy.find(f".//{q('ds', 'X509Certificate')}")
    if certificate is None:
        raise ValueError("SP metadata KeyDescriptor without an X509Certificate")
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    certificate.text = base64.b64encode(der).decode("ascii")
    return copy


__all__ = ["BINDING_HTTP_REDIRECT", "AuthnRedirect", "ServiceProvider", "SpKeys"]
