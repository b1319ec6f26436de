"""What a validated assertion means for a session: context keys, roles offered, session attributes.

Pure functions over the :class:`Assertion` value; AWS's names, limits and error codes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from broker.iam import limits
from broker.iam.arn import InvalidArn, parse_role_arn, parse_saml_provider_arn
from broker.iam.errors import AwsError
from broker.iam.numbers import parse_ascii_int_in_range
from broker.saml.assertion import (
    OID_KEYS,
    PRINCIPAL_TAG_PREFIX,
    ROLE_ATTRIBUTE,
    ROLE_SESSION_NAME_ATTRIBUTE,
    SESSION_DURATION_ATTRIBUTE,
    SOURCE_IDENTITY_ATTRIBUTE,
    TRANSITIVE_TAG_KEYS_ATTRIBUTE,
    Assertion,
)

_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_TAG_KEY = re.compile(r"^[\w\s.:/=+\-@]{1,128}$", re.UNICODE)
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$", re.UNICODE)


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """``saml:namequalifier`` / STS ``NameQualifier``: base64(SHA1(issuer + account + '/' + name))."""
    digest = hashlib.sha1((issuer + account_id + "/" + provider_name).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


# Keys the protocol defines; whether or not a sign-in has a value for one, no attribute may.
PROTOCOL_KEYS = (
    "saml:aud",
    "saml:iss",
    "saml:sub",
    "saml:sub_type",
    "saml:namequalifier",
    "saml:doc",
    "saml:authncontextclassref",
)


def saml_context(assertion: Assertion, account_id: str, provider_name: str) -> dict[str, Any]:
    """The ``saml:*`` condition keys of a sign-in, multi-valued where the attribute is."""
    context: dict[str, Any] = {
        "saml:aud": assertion.recipient,
        "saml:iss": assertion.issuer,
        "saml:sub": assertion.subject,
        "saml:sub_type": assertion.subject_type,
        "saml:namequalifier": name_qualifier(assertion.issuer, account_id, provider_name),
        "saml:doc": f"{account_id}/{provider_name}",
    }
    if assertion.authn_context_class_refs:
        context["saml:authncontextclassref"] = list(assertion.authn_context_class_refs)
    # Condition keys ignore case, attribute names do not: "Email" and "email", or FriendlyName
    # "CN" beside OID key "cn", are one condition key whose values are the union of both.
    # The keys above come from the protocol, never from attributes: an attribute called "iss"
    # or "authncontextclassref" must not add to them.
    reserved = {key.lower() for key in PROTOCOL_KEYS}
    spelled: dict[str, str] = {}
    for name, values in assertion.attributes.items():
        keys = [f"saml:{name}"]
        keys += [f"saml:{k}" for k in OID_KEYS.get(name, ())]
        if name in assertion.friendly_names:
            keys.append(f"saml:{assertion.friendly_names[name]}")
        for key in keys:
            if key.lower() in reserved:
                continue
            existing = spelled.setdefault(key.lower(), key)
            if existing not in context:
                context[existing] = list(values)
            elif isinstance(context[existing], list):
                context[existing] += [v for v in values if v not in context[existing]]
    return context


@dataclass(frozen=True)
class RolePair:
    role_arn: str
    provider_arn: str


def role_pairs(assertion: Assertion) -> list[RolePair] | None:
    """Pairs from the AWS ``Role`` attribute (either order), or None if the attribute is absent."""
    values = assertion.attributes.get(ROLE_ATTRIBUTE)
    if values is None:
        return None
    read = [_cached_role_pair(v) if len(v) <= _CACHED_ROLE_VALUE else _role_pair(v) for v in values]
    return [pair for pair in read if pair is not None]


def _role_pair(value: str) -> RolePair | None:
    """One Role value as a (role, provider) pair, in either order; None if it is not one."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return None
    first, second = parts
    for role, provider in ((first, second), (second, first)):
        try:
            parse_role_arn(role)
            parse_saml_provider_arn(provider)
        except InvalidArn:
            continue
        return RolePair(role, provider)
    return None


# An IdP sends the same few Role values at every sign-in, and parsing their ARNs showed in
# profiles: values of a usual length are read once per process (at most 4096 x 512 characters kept).
_CACHED_ROLE_VALUE = 512
_cached_role_pair = lru_cache(maxsize=4096)(_role_pair)


def _single(assertion: Assertion, name: str) -> str | None:
    values = assertion.attributes.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise AwsError("InvalidIdentityToken", f"SAML attribute {name} must have exactly one value")
    return values[0]


@dataclass(frozen=True)
class SessionAttributes:
    session_name: str
    requested_duration: int | None
    tags: dict[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None


def fallback_session_name(subject: str) -> str:
    """A NameID made into a valid session name: invalid characters become '-', 2..64 long."""
    cleaned = re.sub(r"[^\w+=,.@-]", "-", subject)[:64]
    return cleaned if len(cleaned) >= 2 else (cleaned + "--")[:2]


def session_attributes(assertion: Assertion) -> SessionAttributes:
    """Read RoleSessionName, SessionDuration, PrincipalTag:*, TransitiveTagKeys, SourceIdentity."""
    name = _single(assertion, ROLE_SESSION_NAME_ATTRIBUTE)
    if name is None:
        name = fallback_session_name(assertion.subject)
    elif not _SESSION_NAME.match(name):
        raise AwsError("InvalidIdentityToken", "RoleSessionName must be 2-64 characters of letters, digits and +=,.@-_")
    duration_text = _single(assertion, SESSION_DURATION_ATTRIBUTE)
    duration = None
    if duration_text is not None:
        # ASCII digits only: str.isdigit() takes '²', which int() then refuses.
        duration = parse_ascii_int_in_range(
            duration_text, low=limits.DURATION_SECONDS_MIN, high=limits.DURATION_SECONDS_MAX
        )
        if duration is None:
            raise AwsError(
                "InvalidIdentityToken",
                f"SessionDuration must be an integer from {limits.DURATION_SECONDS_MIN} "
                f"to {limits.DURATION_SECONDS_MAX}",
            )
    tags: dict[str, str] = {}
    for attribute, values in assertion.attributes.items():
        if not attribute.startswith(PRINCIPAL_TAG_PREFIX):
            continue
        key = attribute[len(PRINCIPAL_TAG_PREFIX) :]
        if len(values) != 1:
            raise AwsError("InvalidIdentityToken", f"session tag {key!r} must have exactly one value")
        if not _TAG_KEY.match(key) or key.lower().startswith("aws:"):
            raise AwsError("InvalidIdentityToken", f"session tag key {key!r} is not valid")
        if not _TAG_VALUE.match(values[0]):
            raise AwsError("InvalidIdentityToken", f"session tag {key!r} has a value that is not valid")
        if any(existing.lower() == key.lower() for existing in tags):
            raise AwsError("InvalidIdentityToken", f"session tag {key!r} is given twice (keys are case-insensitive)")
        tags[key] = values[0]
    if len(tags) > limits.SESSION_TAGS_MAX:
        raise AwsError("InvalidIdentityToken", f"at most {limits.SESSION_TAGS_MAX} session tags are allowed")
    transitive = tuple(assertion.attributes.get(TRANSITIVE_TAG_KEYS_ATTRIBUTE, ()))
    lowered = {k.lower() for k in tags}
    for key in transitive:
        if key.lower() not in lowered:
            raise AwsError("InvalidIdentityToken", f"transitive tag key {key!r} is not a session tag")
    source_identity = _single(assertion, SOURCE_IDENTITY_ATTRIBUTE)
    if source_identity is not None and not _SESSION_NAME.match(source_identity):
        raise AwsError("InvalidIdentityToken", "SourceIdentity must be 2-64 characters of letters, digits and +=,.@-_")
    return SessionAttributes(name, duration, tags, transitive, source_identity)


def session_duration(
    requested: int | None,
    attribute_duration: int | None,
    max_session_duration: int,
    session_not_on_or_after: dt.datetime | None,
    now: dt.datetime,
) -> int:
    """Seconds the credentials live: the request (or the attribute, or 3600) bounded by the role
    and by the IdP session. A request above the role's maximum is an error, as in AWS."""
    if requested is not None:
        if not limits.DURATION_SECONDS_MIN <= requested <= limits.DURATION_SECONDS_MAX:
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value '{requested}' at 'durationSeconds' failed to "
                f"satisfy constraint: Member must have value between {limits.DURATION_SECONDS_MIN} "
                f"and {limits.DURATION_SECONDS_MAX}",
            )
        if requested > max_session_duration:
            raise AwsError(
                "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        duration = requested
    elif attribute_duration is not None:
        duration = min(attribute_duration, max_session_duration)
    else:
        duration = min(limits.DURATION_SECONDS_DEFAULT, max_session_duration)
    if session_not_on_or_after is not None:
        remaining = int((session_not_on_or_after - now).total_seconds())
        duration = min(duration, remaining)
    if duration <= 0:
        raise AwsError("ExpiredTokenException", "The IdP session (SessionNotOnOrAfter) has ended.")
    return duration
