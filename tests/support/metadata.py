"""IdP metadata documents for tests that need a provider but no running IdP."""

from __future__ import annotations

from broker.crypto.keys import generate_rsa_pair


def _der_base64(cert_pem: bytes) -> str:
    lines = cert_pem.decode().strip().splitlines()
    return "".join(line for line in lines if "CERTIFICATE" not in line)


def idp_metadata_xml(entity_id: str, cert_pem: bytes | None = None, sso_url: str = "https://idp.example/sso") -> str:
    cert = cert_pem or generate_rsa_pair("test idp", key_size=2048)[1]
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data><ds:X509Certificate>{_der_base64(cert)}</ds:X509Certificate></ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""
