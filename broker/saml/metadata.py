"""Identity-provider metadata: what the broker pins from it, read strictly.

Only the signing certificates published in the metadata are trusted for a provider; a
certificate inside a SAML message is never used. Metadata is parsed once per change and
cached by content digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from broker.saml.errors import MetadataError, SamlError
from broker.saml.xmldsig import check_unique_ids, pem_from_base64_der, signature_of, verify_enveloped
from broker.saml.xmlsafe import parse_xml, q

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_METADATA_BYTES = 10_000_000


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    signing_certs: tuple[bytes, ...]
    sso_redirect_url: str | None
    sso_post_url: str | None
    valid_until: dt.datetime | None
    digest: str
    # The web origins (scheme://host[:port]) of its SingleSignOnService and SingleLogoutService
    # endpoints: the pages that post a response to the ACS are served from these.
    endpoint_origins: frozenset[str] = frozenset()
    # The shortest cacheDuration it states: how long a copy fetched from its URL may be kept.
    cache_duration: dt.timedelta | None = None


def web_origin(url: str) -> str | None:
    """The origin a browser names in its ``Origin`` header for a page at ``url``: lower-case
    scheme and host, the port only when it is not the scheme's default; None if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        return None
    try:
        host = host.encode("idna").decode("ascii")  # browsers send an IDN host as punycode
    except UnicodeError:
        return None
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"


# xs:dateTime zones run from -14:00 to +14:00, as the ACS reads assertion times.
_MOST_OFFSET = dt.timedelta(hours=14)


def _parse_datetime(text: str) -> dt.datetime:
    """A metadata time in UTC (a time without a zone is UTC); raises :class:`MetadataError`."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MetadataError("validUntil is not an ISO 8601 time") from None
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=dt.UTC)
    if abs(offset) > _MOST_OFFSET:
        raise MetadataError(f"validUntil has an impossible time zone: {text.strip()[:64]!r}")
    try:
        # In UTC, as it is stored: a time at the calendar's edge may not have a UTC equivalent.
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise MetadataError(f"validUntil is out of range: {text.strip()[:64]!r}") from None


@lru_cache(maxsize=128)
def parse_idp_metadata(xml: str) -> IdpMetadata:
    data = xml.encode()
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataError("metadata document is larger than 10 MB")
    try:
        root = parse_xml(data)
    except SamlError as exc:
        raise MetadataError(f"metadata is not acceptable XML: {exc.detail}") from None
    outer_valid_until = root.get("validUntil") if root.tag == q("md", "EntitiesDescriptor") else None
    durations = [root.get("cacheDuration")]
    if root.tag == q("md", "EntitiesDescriptor"):
        entities = root.findall(q("md", "EntityDescriptor"))
        if len(entities) != 1:
            raise MetadataError("metadata must describe exactly one identity provider")
        root = entities[0]
    if root.tag != q("md", "EntityDescriptor"):
        raise MetadataError("metadata root must be md:EntityDescriptor")
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id or len(entity_id) > 1024:
        raise MetadataError("EntityDescriptor has no usable entityID")
    idp = root.find(q("md", "IDPSSODescriptor"))
    if idp is None:
        raise MetadataError("metadata has no IDPSSODescriptor")
    durations += [root.get("cacheDuration"), idp.get("cacheDuration")]
    # Advice on refreshing, not on trust: one that cannot be read is ignored rather than refused.
    cache_duration = min((d for d in map(_duration_or_none, durations) if d is not None), default=None)
    if "urn:oasis:names:tc:SAML:2.0:protocol" not in (idp.get("protocolSupportEnumeration") or ""):
        raise MetadataError("IDPSSODescriptor does not support SAML 2.0")
    certs: list[bytes] = []
    for descriptor in idp.findall(q("md", "KeyDescriptor")):
        if descriptor.get("use") not in (None, "signing"):
            continue
        for cert in descriptor.iter(q("ds", "X509Certificate")):
            if cert.text and cert.text.strip():
                pem = pem_from_base64_der(cert.text)
                _check_certificate(pem)
                if pem not in certs:
                    certs.append(pem)
    if not certs:
        raise MetadataError("IDPSSODescriptor has no signing certificate")
    sso: dict[str, str] = {}
    for service in idp.findall(q("md", "SingleSignOnService")):
        binding, location = service.get("Binding"), service.get("Location")
        if binding and location and binding not in sso:
            if not location.startswith(("https://", "http://")):
                raise MetadataError(f"SingleSignOnService Location {location!r} is not an http(s) URL")
            sso[binding] = location
    endpoints = [*sso.values()]
    endpoints += [s.get("Location") or "" for s in idp.findall(q("md", "SingleLogoutService"))]
    origins = frozenset(origin for origin in map(web_origin, endpoints) if origin is not None)
    valid_until = None
    for stamp in (outer_valid_until, root.get("validUntil"), idp.get("validUntil")):
        if stamp:
            candidate = _parse_datetime(stamp)
            valid_until = candidate if valid_until is None else min(valid_until, candidate)
    return IdpMetadata(
        entity_id=entity_id,
        signing_certs=tuple(certs),
        sso_redirect_url=sso.get(BINDING_REDIRECT),
        sso_post_url=sso.get(BINDING_POST),
        valid_until=valid_until,
        digest=hashlib.sha256(data).hexdigest(),
        endpoint_origins=origins,
        cache_duration=cache_duration,
    )


_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str) -> dt.timedelta:
    """An ``xs:duration`` (``PT6H``, ``P1D``...); a year counts 365 days, a month 30."""
    found = _DURATION.fullmatch(text.strip())
    if found is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise MetadataError("cacheDuration is not an xs:duration")
    parts = {key: float(value) for key, value in found.groupdict().items() if value}
    days = parts.pop("years", 0) * 365 + parts.pop("months", 0) * 30 + parts.pop("days", 0)
    try:
        return dt.timedelta(days=days, **parts)
    except OverflowError:
        raise MetadataError("cacheDuration is out of range") from None


def _duration_or_none(text: str | None) -> dt.timedelta | None:
    try:
        return parse_duration(text) if text else None
    except MetadataError:
        return None


def verify_metadata_signature(xml: str, pinned_certs: tuple[bytes, ...]) -> None:
    """The document's root (EntityDescriptor or EntitiesDescriptor) carries an enveloped signature
    that verifies with one of ``pinned_certs``; raises :class:`MetadataError` otherwise."""
    try:
        root = parse_xml(xml.encode())
        check_unique_ids(root)
        signature = signature_of(root)
        if signature is None:
            raise MetadataError("metadata is not signed")
        verify_enveloped(root, signature, pinned_certs)
    except SamlError as exc:
        raise MetadataError(f"metadata signature: {exc.detail}") from None


def _check_certificate(pem: bytes) -> None:
    from cryptography import x509

    try:
        x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise MetadataError("a signing certificate in the metadata is not a valid X.509 certificate") from None


def entity_id_of(xml: str) -> str:
    return parse_idp_metadata(xml).entity_id
