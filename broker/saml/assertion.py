"""The one value the rest of the broker sees of a SAML sign-in; no XML beyond this package."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

NAMEID_PREFIX = "urn:oasis:names:tc:SAML:2.0:nameid-format:"

# OID attribute names -> the saml: condition keys AWS defines for them.
OID_KEYS: dict[str, tuple[str, ...]] = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ("edupersonaffiliation",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.2": ("edupersonnickname",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.3": ("edupersonorgdn",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.4": ("edupersonorgunitdn",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.5": ("edupersonprimaryaffiliation",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": ("edupersonprincipalname",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": ("edupersonentitlement",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.8": ("edupersonprimaryorgunitdn",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": ("edupersonscopedaffiliation",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": ("edupersontargetedid",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.11": ("edupersonassurance",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.2": ("eduorghomepageuri",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.3": ("eduorgidentityauthnpolicyuri",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.4": ("eduorglegalname",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.5": ("eduorgsuperioruri",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.6": ("eduorgwhitepagesuri",),
    "urn:oid:2.5.4.3": ("cn", "commonName"),
    "urn:oid:2.5.4.42": ("givenName",),
    "urn:oid:2.5.4.4": ("surname",),
    "urn:oid:0.9.2342.19200300.100.1.3": ("mail",),
    "urn:oid:2.5.4.41": ("name",),
    "urn:oid:0.9.2342.19200300.100.1.1": ("uid",),
    "urn:oid:2.5.4.45": ("x500UniqueIdentifier",),
    "urn:oid:1.3.6.1.4.1.25178.1.2.9": ("organizationStatus",),
    "urn:oid:1.2.840.113556.1.4.98": ("primaryGroupSID",),
}

AWS_ATTRIBUTE_PREFIX = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTRIBUTE = AWS_ATTRIBUTE_PREFIX + "Role"
ROLE_SESSION_NAME_ATTRIBUTE = AWS_ATTRIBUTE_PREFIX + "RoleSessionName"
SESSION_DURATION_ATTRIBUTE = AWS_ATTRIBUTE_PREFIX + "SessionDuration"
PRINCIPAL_TAG_PREFIX = AWS_ATTRIBUTE_PREFIX + "PrincipalTag:"
TRANSITIVE_TAG_KEYS_ATTRIBUTE = AWS_ATTRIBUTE_PREFIX + "TransitiveTagKeys"
SOURCE_IDENTITY_ATTRIBUTE = AWS_ATTRIBUTE_PREFIX + "SourceIdentity"


@dataclass(frozen=True)
class Assertion:
    issuer: str
    assertion_id: str
    response_id: str
    in_response_to: str | None
    subject: str
    name_id_format: str | None
    recipient: str
    audiences: tuple[str, ...]
    not_on_or_after: dt.datetime
    issue_instant: dt.datetime
    attributes: dict[str, list[str]]
    friendly_names: dict[str, str] = field(default_factory=dict)
    authn_context_class_refs: tuple[str, ...] = ()
    authn_instant: dt.datetime | None = None
    session_not_on_or_after: dt.datetime | None = None
    response_signed: bool = False
    assertion_signed: bool = False
    encrypted: bool = False
    digest: str = ""

    @property
    def subject_type(self) -> str:
        """``saml:sub_type``: persistent, transient, or the full format URI."""
        fmt = self.name_id_format or "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
        short = fmt.removeprefix(NAMEID_PREFIX)
        return short if short in ("persistent", "transient") else fmt

    @property
    def aws_subject_type(self) -> str:
        """STS ``SubjectType``: the format with the SAML 2.0 prefix removed."""
        return (self.name_id_format or "").removeprefix(NAMEID_PREFIX)
