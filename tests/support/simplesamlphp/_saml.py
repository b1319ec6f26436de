"""Small SAML pieces the IdP fixture needs: a self-signed key pair, the facts it reads from SP
metadata, and an unsigned HTTP-Redirect AuthnRequest."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import zlib
from dataclasses import dataclass
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@dataclass(frozen=True)
class KeyPair:
    """An RSA private key and its self-signed certificate, both PEM."""

    private_key_pem: str
    cert_pem: str

    @property
    def cert_base64(self) -> str:
        """The certificate's DER as base64 on one line, as `ds:X509Certificate` carries it."""
        body = self.cert_pem.replace("-----BEGIN CERTIFICATE-----", "").replace("-----END CERTIFICATE-----", "")
        return "".join(body.split())


def generate_key_pair(common_name: str, *, days: int = 30) -> KeyPair:
    """A fresh RSA-2048 key and a self-signed SHA-256 certificate for `common_name`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


@dataclass(frozen=True)
class ServiceProvider:
    """What the fixture needs to know about one SP named in the metadata it was given."""

    entity_id: str
    acs_urls: tuple[str, ...]  # HTTP-POST AssertionConsumerService locations, in document order

    @property
    def acs_url(self) -> str:
        return self.acs_urls[0]


def parse_sp_metadata(metadata_xml: str) -> tuple[ServiceProvider, ...]:
    """Every SP in an `EntityDescriptor` or `EntitiesDescriptor`, checked enough to fail early.

    SimpleSAMLphp parses the same XML itself on each request; this is only so that a broken
    document fails at fixture start-up with a clear message instead of an IdP error page later.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(metadata_xml.encode(), parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"SP metadata is not well-formed XML: {exc}") from exc
    descriptors = [root] if root.tag == f"{{{MD_NS}}}EntityDescriptor" else root.iter(f"{{{MD_NS}}}EntityDescriptor")
    sps = []
    for entity in descriptors:
        sso = entity.find(f"{{{MD_NS}}}SPSSODescriptor")
        if sso is None:
            continue
        acs = tuple(
            str(element.get("Location"))
            for element in sso.iter(f"{{{MD_NS}}}AssertionConsumerService")
            if element.get("Binding") == BINDING_HTTP_POST
        )
        if not acs:
            raise ValueError(f"SP {entity.get('entityID')!r} has no HTTP-POST AssertionConsumerService")
        sps.append(ServiceProvider(entity_id=str(entity.get("entityID")), acs_urls=acs))
    if not sps:
        raise ValueError("SP metadata holds no EntityDescriptor with an SPSSODescriptor")
    return tuple(sps)


def sp_metadata_xml(entity_id: str, acs_url: str, *, signing_cert: KeyPair, encryption_cert: KeyPair) -> str:
    """Minimal SP metadata of the shape the broker serves, for tests that stand in for the SP."""

    def key_descriptor(use: str, pair: KeyPair) -> str:
        return (
            f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data>'
            f"<ds:X509Certificate>{pair.cert_base64}</ds:X509Certificate>"
            "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )

    return (
        f'<md:EntityDescriptor xmlns:md="{MD_NS}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
        f" entityID={quoteattr(entity_id)}>"
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{key_descriptor('signing', signing_cert)}{key_descriptor('encryption', encryption_cert)}"
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}"'
        f' Location={quoteattr(acs_url)} index="0"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )


@dataclass(frozen=True)
class AuthnRequestRedirect:
    """An SP-initiated login URL (HTTP-Redirect binding) and the request ID it carries."""

    url: str
    request_id: str


def authn_request_redirect(
    sso_url: str,
    *,
    sp_entity_id: str,
    acs_url: str,
    request_id: str | None = None,
    relay_state: str | None = None,
    force_authn: bool = False,
    signing_key: KeyPair | None = None,
) -> AuthnRequestRedirect:
    """A `samlp:AuthnRequest` deflated into `sso_url`, as an SP would redirect to it.

    Unsigned unless `signing_key` is given; then the query carries `SigAlg` (RSA-SHA256) and a
    `Signature` over the encoded `SAMLRequest`, `RelayState` and `SigAlg` (bindings 3.4.4.1).
    SimpleSAMLphp accepts unsigned requests unless the SP's metadata says
    `AuthnRequestsSigned="true"`.
    """
    request_id = request_id or "_" + secrets.token_hex(20)
    issue_instant = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
        ' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
        f' ID={quoteattr(request_id)} Version="2.0" IssueInstant="{issue_instant}"'
        f" Destination={quoteattr(sso_url)} AssertionConsumerServiceURL={quoteattr(acs_url)}"
        f' ProtocolBinding="{BINDING_HTTP_POST}"'
        + (' ForceAuthn="true"' if force_authn else "")
        + f"><saml:Issuer>{escape(sp_entity_id)}</saml:Issuer></samlp:AuthnRequest>"
    )
    compressor = zlib.compressobj(wbits=-15)  # raw DEFLATE, as the binding specifies
    deflated = compressor.compress(xml.encode()) + compressor.flush()
    params = [("SAMLRequest", base64.b64encode(deflated).decode())]
    if relay_state is not None:
        params.append(("RelayState", relay_state))
    query = urlencode(params)
    if signing_key is not None:
        query += "&" + urlencode([("SigAlg", RSA_SHA256)])
        key = serialization.load_pem_private_key(signing_key.private_key_pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("AuthnRequest signing key must be RSA")
        signature = key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
        query += "&" + urlencode([("Signature", base64.b64encode(signature).decode())])
    separator = "&" if "?" in sso_url else "?"
    return AuthnRequestRedirect(url=f"{sso_url}{separator}{query}", request_id=request_id)
