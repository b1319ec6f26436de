"""parse_idp_metadata: what is pinned from real-looking IdP metadata, and what is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import pytest

from broker.saml.errors import MetadataError
from broker.saml.metadata import BINDING_POST, BINDING_REDIRECT, parse_idp_metadata
from tests.saml.conftest import KeyPair
from tests.support.saml_factory import IDP_ENTITY_ID

BINDING_SOAP = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
SSO_REDIRECT = "https://idp.corp.example/saml2/idp/SSOService.php"
SSO_POST = "https://idp.corp.example/saml2/idp/SSOService.php?binding=post"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"


def der_base64(cert_pem: bytes, indent: str = "          ") -> str:
    """The certificate as metadata carries it: base64 DER, wrapped and indented."""
    lines = [line.decode() for line in cert_pem.splitlines() if not line.startswith(b"-----")]
    return "\n" + "\n".join(indent + line for line in lines) + "\n" + indent[:-2]


def key_descriptor(cert_pem: bytes | str, use: str | None) -> str:
    body = cert_pem if isinstance(cert_pem, str) else der_base64(cert_pem)
    use_attr = f' use="{use}"' if use is not None else ""
    return f"""
    <md:KeyDescriptor{use_attr}>
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data>
          <ds:X509Certificate>{body}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>"""


@dataclass(frozen=True)
class Meta:
    """A metadata document shaped like SimpleSAMLphp / Shibboleth / Entra ID publish them."""

    key_descriptors: str
    entity_id: str | None = IDP_ENTITY_ID
    sso: tuple[tuple[str, str], ...] = ((BINDING_REDIRECT, SSO_REDIRECT), (BINDING_POST, SSO_POST))
    entity_valid_until: str | None = None
    idp_valid_until: str | None = None
    protocol: str = PROTOCOL
    with_idp: bool = True

    def entity(self) -> str:
        entity_id = f' entityID="{self.entity_id}"' if self.entity_id is not None else ""
        valid = f' validUntil="{self.entity_valid_until}"' if self.entity_valid_until else ""
        idp_valid = f' validUntil="{self.idp_valid_until}"' if self.idp_valid_until else ""
        services = "".join(f'\n    <md:SingleSignOnService Binding="{b}" Location="{loc}"/>' for b, loc in self.sso)
        idp = (
            f"""
  <md:IDPSSODescriptor protocolSupportEnumeration="{self.protocol}"{idp_valid}>
    <md:Extensions>
      <mdui:UIInfo xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui">
        <mdui:DisplayName xml:lang="en">Corp sign-in</mdui:DisplayName>
      </mdui:UIInfo>
    </md:Extensions>{self.key_descriptors}
    <md:SingleLogoutService Binding="{BINDING_REDIRECT}" Location="https://idp.corp.example/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>{services}
  </md:IDPSSODescriptor>"""
            if self.with_idp
            else """
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService index="0" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://sp.example/acs"/>
  </md:SPSSODescriptor>"""
        )
        return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"{entity_id}{valid}>{idp}
  <md:Organization>
    <md:OrganizationName xml:lang="en">Corp</md:OrganizationName>
    <md:OrganizationDisplayName xml:lang="en">Corp Inc.</md:OrganizationDisplayName>
    <md:OrganizationURL xml:lang="en">https://corp.example/</md:OrganizationURL>
  </md:Organization>
  <md:ContactPerson contactType="technical">
    <md:EmailAddress>mailto:it@corp.example</md:EmailAddress>
  </md:ContactPerson>
</md:EntityDescriptor>"""

    def xml(self) -> str:
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + self.entity()


def entities(*members: Meta, valid_until: str | None = None) -> str:
    valid = f' validUntil="{valid_until}"' if valid_until else ""
    body = "\n".join(member.entity() for member in members)
    return (
        f'<?xml version="1.0"?>\n<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
        f' Name="urn:corp:federation"{valid}>\n{body}\n</md:EntitiesDescriptor>'
    )


def test_entity_descriptor(idp_keys: KeyPair) -> None:
    xml = Meta(key_descriptor(idp_keys.cert_pem, "signing"), entity_valid_until="2030-01-01T00:00:00Z").xml()
    metadata = parse_idp_metadata(xml)
    assert metadata.entity_id == IDP_ENTITY_ID
    assert metadata.signing_certs == (idp_keys.cert_pem,)
    assert metadata.sso_redirect_url == SSO_REDIRECT
    assert metadata.sso_post_url == SSO_POST
    assert metadata.valid_until == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert metadata.digest == hashlib.sha256(xml.encode()).hexdigest()


def test_single_entity_entities_descriptor(idp_keys: KeyPair) -> None:
    metadata = parse_idp_metadata(entities(Meta(key_descriptor(idp_keys.cert_pem, None))))
    assert metadata.entity_id == IDP_ENTITY_ID
    assert metadata.signing_certs == (idp_keys.cert_pem,)


def test_signing_key_descriptors_with_and_without_use(idp_keys: KeyPair, idp_next_keys: KeyPair) -> None:
    descriptors = key_descriptor(idp_keys.cert_pem, "signing") + key_descriptor(idp_next_keys.cert_pem, None)
    metadata = parse_idp_metadata(Meta(descriptors).xml())
    assert metadata.signing_certs == (idp_keys.cert_pem, idp_next_keys.cert_pem)


def test_encryption_only_key_descriptor_is_ignored(idp_keys: KeyPair, sp_keys: KeyPair) -> None:
    descriptors = key_descriptor(sp_keys.cert_pem, "encryption") + key_descriptor(idp_keys.cert_pem, "signing")
    assert parse_idp_metadata(Meta(descriptors).xml()).signing_certs == (idp_keys.cert_pem,)


def test_same_certificate_for_both_uses_is_pinned_once(idp_keys: KeyPair) -> None:
    descriptors = (
        key_descriptor(idp_keys.cert_pem, "signing")
        + key_descriptor(idp_keys.cert_pem, "encryption")
        + key_descriptor(idp_keys.cert_pem, None)
    )
    assert parse_idp_metadata(Meta(descriptors).xml()).signing_certs == (idp_keys.cert_pem,)


def test_certificate_on_one_line(idp_keys: KeyPair) -> None:
    body = "".join(line.decode() for line in idp_keys.cert_pem.splitlines() if not line.startswith(b"-----"))
    assert parse_idp_metadata(Meta(key_descriptor(body, "signing")).xml()).signing_certs == (idp_keys.cert_pem,)


def test_sso_bindings_first_of_each_wins_and_may_be_absent(idp_keys: KeyPair) -> None:
    sso = (
        (BINDING_SOAP, "https://idp.corp.example/soap"),
        (BINDING_POST, SSO_POST),
        (BINDING_POST, "https://idp.corp.example/second"),
    )
    metadata = parse_idp_metadata(Meta(key_descriptor(idp_keys.cert_pem, "signing"), sso=sso).xml())
    assert metadata.sso_post_url == SSO_POST
    assert metadata.sso_redirect_url is None


@pytest.mark.parametrize(
    ("entity_valid_until", "idp_valid_until", "expected"),
    [
        (None, None, None),
        ("2030-01-01T00:00:00Z", None, dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
        (None, "2029-06-30T12:00:00.1234567Z", dt.datetime(2029, 6, 30, 12, 0, 0, 123456, tzinfo=dt.UTC)),
        ("2030-01-01T00:00:00Z", "2029-06-30T12:00:00+02:00", dt.datetime(2029, 6, 30, 10, tzinfo=dt.UTC)),
        ("2029-06-30T00:00:00", "2030-01-01T00:00:00Z", dt.datetime(2029, 6, 30, tzinfo=dt.UTC)),
    ],
)
def test_valid_until_is_the_earliest(
    idp_keys: KeyPair, entity_valid_until: str | None, idp_valid_until: str | None, expected: dt.datetime | None
) -> None:
    meta = Meta(
        key_descriptor(idp_keys.cert_pem, "signing"),
        entity_valid_until=entity_valid_until,
        idp_valid_until=idp_valid_until,
    )
    assert parse_idp_metadata(meta.xml()).valid_until == expected


def test_valid_until_of_the_enclosing_entities_descriptor(idp_keys: KeyPair) -> None:
    xml = entities(Meta(key_descriptor(idp_keys.cert_pem, "signing")), valid_until="2026-01-01T00:00:00Z")
    assert parse_idp_metadata(xml).valid_until == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _signing(keys: KeyPair) -> str:
    return key_descriptor(keys.cert_pem, "signing")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda k: Meta(_signing(k), with_idp=False).xml(), "IDPSSODescriptor", id="sp-metadata"),
        pytest.param(lambda k: Meta("").xml(), "no signing certificate", id="no-key-descriptor"),
        pytest.param(
            lambda k: Meta(key_descriptor(k.cert_pem, "encryption")).xml(),
            "no signing certificate",
            id="encryption-key-only",
        ),
        pytest.param(
            lambda k: Meta(key_descriptor("   ", "signing")).xml(), "no signing certificate", id="empty-certificate"
        ),
        pytest.param(
            lambda k: Meta(key_descriptor("bm90IGEgY2VydGlmaWNhdGU=", "signing")).xml(),
            "X.509",
            id="certificate-not-der",
        ),
        pytest.param(
            lambda k: Meta(key_descriptor("%%% not base64 %%%", "signing")).xml(), "X.509", id="certificate-not-base64"
        ),
        pytest.param(
            lambda k: Meta(_signing(k) + key_descriptor("AAAA", None)).xml(), "X.509", id="one-good-one-bad-certificate"
        ),
        pytest.param(
            lambda k: "<!DOCTYPE md:EntityDescriptor>\n" + Meta(_signing(k)).entity(), "acceptable XML", id="doctype"
        ),
        pytest.param(
            lambda k: (
                '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n' + Meta(_signing(k), entity_id="&e;").entity()
            ),
            "acceptable XML",
            id="xxe",
        ),
        pytest.param(lambda k: "<md:EntityDescriptor", "acceptable XML", id="not-xml"),
        pytest.param(
            lambda k: entities(Meta(_signing(k)), Meta(_signing(k), entity_id="https://b.example")),
            "exactly one",
            id="several-entities",
        ),
        pytest.param(lambda k: entities(), "exactly one", id="no-entity"),
        pytest.param(
            lambda k: Meta(_signing(k), sso=((BINDING_REDIRECT, "javascript:alert(1)"),)).xml(),
            "http",
            id="javascript-sso-location",
        ),
        pytest.param(
            lambda k: Meta(_signing(k), sso=((BINDING_POST, "file:///etc/passwd"),)).xml(),
            "http",
            id="file-sso-location",
        ),
        pytest.param(
            lambda k: Meta(_signing(k), sso=((BINDING_POST, "//idp.example/sso"),)).xml(),
            "http",
            id="scheme-relative-sso-location",
        ),
        pytest.param(lambda k: Meta(_signing(k), entity_id=None).xml(), "entityID", id="no-entity-id"),
        pytest.param(lambda k: Meta(_signing(k), entity_id="  ").xml(), "entityID", id="blank-entity-id"),
        pytest.param(
            lambda k: Meta(_signing(k), entity_id="https://e.example/" + "x" * 1100).xml(),
            "entityID",
            id="entity-id-too-long",
        ),
        pytest.param(
            lambda k: Meta(_signing(k), protocol="urn:oasis:names:tc:SAML:1.1:protocol").xml(),
            "SAML 2.0",
            id="saml-1.1-only",
        ),
        pytest.param(
            lambda k: Meta(_signing(k), entity_valid_until="next year").xml(), "validUntil", id="bad-valid-until"
        ),
        pytest.param(
            lambda k: '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>',
            "md:EntityDescriptor",
            id="wrong-root",
        ),
    ],
)
def test_refused_metadata(idp_keys: KeyPair, build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(MetadataError, match=message):
        parse_idp_metadata(build(idp_keys))


def test_metadata_larger_than_ten_megabytes(idp_keys: KeyPair) -> None:
    xml = Meta(_signing(idp_keys)).xml().replace("Corp Inc.", "x" * 10_000_001)
    with pytest.raises(MetadataError, match="10 MB"):
        parse_idp_metadata(xml)


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        # Valid xs:dateTime text, but in UTC past the calendar's last or before its first day.
        ("9999-12-31T23:59:59-14:00", "validUntil is out of range"),
        ("0001-01-01T00:00:00+14:00", "validUntil is out of range"),
        # xs:dateTime zones run from -14:00 to +14:00, as the ACS reads assertion times.
        ("2030-01-01T00:00:00+14:01", "validUntil has an impossible time zone"),
        ("2030-01-01T00:00:00-23:59", "validUntil has an impossible time zone"),
    ],
)
def test_a_valid_until_without_a_utc_time_is_refused(idp_keys: KeyPair, stamp: str, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_idp_metadata(Meta(_signing(idp_keys), entity_valid_until=stamp).xml())


def test_valid_until_is_in_utc(idp_keys: KeyPair) -> None:
    xml = Meta(_signing(idp_keys), entity_valid_until="9999-12-31T09:59:59-14:00").xml()
    valid_until = parse_idp_metadata(xml).valid_until
    assert valid_until is not None and valid_until.tzinfo is dt.UTC
    assert valid_until == dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
