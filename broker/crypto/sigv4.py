"""AWS Signature Version 4 verification (Authorization header and presigned query string).

Two pure steps: :func:`parse_signed_request` reads a request into a :class:`SignedRequest`
(credential scope, signed headers, the canonical request and string-to-sign as the client
must have built them), rejecting malformed or unsigned requests; :func:`verify_signature`
checks the time window and the HMAC once the caller has found the secret for
``access_key_id``. Canonicalization follows botocore's ``SigV4Auth``/``SigV4QueryAuth``
byte for byte, since boto3 and the AWS CLI are the clients that matter.

Errors are :class:`SigV4Error` with AWS's codes and messages, ready for the web layer to
render. No secret (secret key, session token) is put in any message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Final
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

__all__ = [
    "ALGORITHM",
    "DEFAULT_MAX_SKEW",
    "MAX_PRESIGNED_EXPIRES",
    "SUPPORTED_SERVICES",
    "SigV4Error",
    "SignedRequest",
    "derive_signing_key",
    "parse_signed_request",
    "verify_signature",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
TERMINATOR: Final = "aws4_request"
SUPPORTED_SERVICES: Final = frozenset({"sts", "iam", "organizations", "cloudtrail", "execute-api"})
DEFAULT_MAX_SKEW: Final = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES: Final = 7 * 24 * 3600  # AWS's cap on X-Amz-Expires: one week

_AMZ_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
# Real key ids are 16..128 word characters; AWS's own test suite uses the 11-character
# AKIDEXAMPLE, so only the alphabet and an upper bound are checked here. Existence is the
# caller's check (InvalidClientTokenId as well).
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_]{1,128}")
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")  # RFC 9110 token, lowercased
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_UNRESERVED: Final = "-_.~"  # RFC 3986 unreserved marks: the characters SigV4 never encodes

_QUERY_ALGORITHM: Final = "X-Amz-Algorithm"
_QUERY_CREDENTIAL: Final = "X-Amz-Credential"
_QUERY_DATE: Final = "X-Amz-Date"
_QUERY_EXPIRES: Final = "X-Amz-Expires"
_QUERY_SIGNED_HEADERS: Final = "X-Amz-SignedHeaders"
_QUERY_SIGNATURE: Final = "X-Amz-Signature"
_QUERY_SECURITY_TOKEN: Final = "X-Amz-Security-Token"
_PRESIGN_REQUIRED: Final = (
    _QUERY_ALGORITHM,
    _QUERY_CREDENTIAL,
    _QUERY_SIGNATURE,
    _QUERY_SIGNED_HEADERS,
    _QUERY_DATE,
    _QUERY_EXPIRES,
)
_PRESIGN_PARAMS: Final = frozenset((*_PRESIGN_REQUIRED, _QUERY_SECURITY_TOKEN))
_PRESIGN_MARKERS: Final = frozenset((_QUERY_ALGORITHM, _QUERY_CREDENTIAL, _QUERY_SIGNATURE))

# Lone surrogates never come from a WSGI server, but a str can carry them; encoding them
# through keeps hostile input a signature mismatch instead of an exception.
_LENIENT: Final = "surrogatepass"

_TOKEN_HEADER: Final = "x-amz-security-token"
_REDACTED: Final = "<redacted>"


def _echo(value: str, limit: int = 256) -> str:
    # Echoed request parts are attacker-chosen and end up in logs: shorten them and escape
    # control characters so they can't forge log lines.
    shown = value if len(value) <= limit else value[:limit] + "..."
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in shown)


class SigV4Error(Exception):
    """A request that fails SigV4; ``code`` is an AWS error code in ``broker.iam.errors``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"SigV4Error({self.code!r}, {self.message!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedRequest:
    access_key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    amz_date: datetime  # aware, UTC
    signed_headers: tuple[str, ...]  # lowercase, sorted
    signature: str
    # The session token is a bearer secret and the canonical request may contain it:
    # keep both out of repr() so logging a SignedRequest can't leak it.
    security_token: str | None = field(repr=False)
    presigned: bool
    expires: int | None  # X-Amz-Expires of a presigned request
    canonical_request: str = field(repr=False)
    string_to_sign: str

    @property
    def credential_scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


# --- Parsing -----------------------------------------------------------------------------


def parse_signed_request(
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    services: Collection[str] = SUPPORTED_SERVICES,
) -> SignedRequest:
    """Read the SigV4 parts of a request and build what the client must have signed.

    ``path`` and ``query_string`` are the raw (still percent-encoded) parts of the request
    target, as sent on the wire (WSGI ``RAW_URI``/``REQUEST_URI``, ``QUERY_STRING``).
    ``services`` narrows the services the credential scope may name, e.g. ``{"sts"}``.
    """
    folded = _fold_headers(headers)
    pairs = _split_query(query_string)
    params = _decode_auth_params(pairs)
    authorization = folded.get("authorization")
    presigned = any(name in params for name in _PRESIGN_MARKERS)

    if authorization is not None and presigned:
        raise SigV4Error(
            "IncompleteSignature",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified",
        )
    if authorization is None and not presigned:
        raise SigV4Error("MissingAuthenticationToken", "Request is missing Authentication Token")

    if authorization is not None:
        credential, signed_headers_text, signature, amz_date_text, amz_date = _read_authorization(authorization, folded)
        security_token = folded.get(_TOKEN_HEADER)
        expires: int | None = None
    else:
        credential, signed_headers_text, signature, amz_date_text, amz_date, expires = _read_presigned(params)
        security_token = params.get(_QUERY_SECURITY_TOKEN)

    access_key_id, scope_date, region, service = _read_credential(credential, amz_date_text, services)
    signed_headers = _read_signed_headers(signed_headers_text)

    canonical_request = "\n".join(
        (
            method.upper(),
            _canonical_uri(path),
            _canonical_query(pairs, exclude_signature=presigned),
            _canonical_headers(signed_headers, folded) + "\n",
            ";".join(signed_headers),
            _payload_hash(folded, body),
        )
    )
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            amz_date_text,
            f"{scope_date}/{region}/{service}/{TERMINATOR}",
            hashlib.sha256(canonical_request.encode("utf-8", _LENIENT)).hexdigest(),
        )
    )
    return SignedRequest(
        access_key_id=access_key_id,
        date=scope_date,
        region=region,
        service=service,
        amz_date=amz_date,
        signed_headers=signed_headers,
        signature=signature,
        security_token=security_token,
        presigned=presigned,
        expires=expires,
        canonical_request=canonical_request,
        string_to_sign=string_to_sign,
    )


def _fold_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # Case-insensitive lookup; a name given twice in different cases is joined the way
    # botocore joins repeated headers when it signs them.
    folded: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        folded[key] = f"{folded[key]},{value}" if key in folded else value
    return folded


def _split_query(query_string: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for segment in query_string.split("&"):
        if segment:  # "a=1&&b=2" and a trailing "&" carry no parameter
            key, _, value = segment.partition("=")
            pairs.append((key, value))
    return pairs


def _decode(raw: str) -> bytes:
    # Form-style decoding: botocore sends query params of header-signed requests through
    # urlencode (space as "+") but signs them with "%20"; a literal "+" arrives as "%2B".
    return unquote_to_bytes(raw.replace("+", " ").encode("utf-8", _LENIENT))


def _decode_auth_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for raw_key, raw_value in pairs:
        key = _decode(raw_key).decode("utf-8", "replace")
        if key not in _PRESIGN_PARAMS:
            continue
        if key in params:
            raise SigV4Error("IncompleteSignature", f"The query-string parameter '{key}' is given more than once.")
        try:
            params[key] = _decode(raw_value).decode("utf-8")
        except UnicodeDecodeError:
            raise SigV4Error("IncompleteSignature", f"The query-string parameter '{key}' is not valid UTF-8.") from None
    return params


def _read_authorization(authorization: str, folded: Mapping[str, str]) -> tuple[str, str, str, str, datetime]:
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.startswith("AWS4-") and scheme != ALGORITHM:
        raise SigV4Error(
            "IncompleteSignature",
            f"Unsupported AWS 'algorithm': '{_echo(scheme)}'. Sign requests with {ALGORITHM}.",
        )
    # Echo the header back only when it is SigV4-shaped: anything else (Basic, Bearer)
    # may carry a credential, which must not reach a message.
    shown = _echo(authorization if scheme == ALGORITHM else scheme)

    components: dict[str, str] = {}
    if scheme == ALGORITHM:
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            key, equals, value = part.partition("=")
            if not equals:
                raise SigV4Error(
                    "IncompleteSignature",
                    f"'{_echo(part)}' not a valid key=value pair (missing equal-sign) "
                    f"in Authorization header: '{shown}'.",
                )
            key = key.strip()
            if key in components:
                raise SigV4Error(
                    "IncompleteSignature",
                    f"Authorization header has the '{_echo(key)}' parameter more than once.",
                )
            components[key] = value.strip()

    date_header = "x-amz-date" if "x-amz-date" in folded else "date" if "date" in folded else None
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not components.get(name)
    ]
    if date_header is None:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        raise SigV4Error("IncompleteSignature", " ".join(problems) + f" Authorization={shown}")
    assert date_header is not None  # for the type checker: problems was empty

    amz_date_text, amz_date = _read_date(folded[date_header], from_date_header=date_header == "date")
    return (
        components["Credential"],
        components["SignedHeaders"],
        components["Signature"],
        amz_date_text,
        amz_date,
    )


def _read_presigned(params: Mapping[str, str]) -> tuple[str, str, str, str, datetime, int]:
    missing = [name for name in _PRESIGN_REQUIRED if not params.get(name)]
    if missing:
        raise SigV4Error(
            "IncompleteSignature",
            " ".join(f"AWS query-string parameters must include '{name}'." for name in missing)
            + " Re-examine the query-string parameters.",
        )
    if params[_QUERY_ALGORITHM] != ALGORITHM:
        raise SigV4Error(
            "IncompleteSignature",
            f"Unsupported AWS 'algorithm': '{_echo(params[_QUERY_ALGORITHM])}'. Sign requests with {ALGORITHM}.",
        )
    expires_text = params[_QUERY_EXPIRES]
    if not expires_text.isascii() or not expires_text.isdigit() or len(expires_text) > 7:
        raise SigV4Error("IncompleteSignature", "X-Amz-Expires should be a number of seconds.")
    expires = int(expires_text)
    if expires > MAX_PRESIGNED_EXPIRES:
        raise SigV4Error(
            "IncompleteSignature",
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}.",
        )
    amz_date_text, amz_date = _read_date(params[_QUERY_DATE], from_date_header=False)
    return (
        params[_QUERY_CREDENTIAL],
        params[_QUERY_SIGNED_HEADERS],
        params[_QUERY_SIGNATURE],
        amz_date_text,
        amz_date,
        expires,
    )


def _read_date(value: str, *, from_date_header: bool) -> tuple[str, datetime]:
    """The request time as the string-to-sign spells it, and as a UTC datetime."""
    if from_date_header:
        # botocore sends an RFC 1123 Date header (and no X-Amz-Date) when the caller set
        # one; the string-to-sign still uses the ISO 8601 basic form.
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            raise SigV4Error("IncompleteSignature", "The Date header must be an RFC 1123 date.") from None
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return parsed.strftime(_AMZ_DATE_FORMAT), parsed
    if _AMZ_DATE.fullmatch(value) is None:
        raise SigV4Error(
            "IncompleteSignature", "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    try:
        parsed = datetime.strptime(value, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SigV4Error("IncompleteSignature", f"X-Amz-Date '{_echo(value)}' is not a valid date and time.") from None
    return value, parsed


def _read_credential(credential: str, amz_date_text: str, services: Collection[str]) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise SigV4Error(
            "IncompleteSignature",
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{_echo(credential)}'",
        )
    access_key_id, scope_date, region, service, terminator = parts
    if _ACCESS_KEY_ID.fullmatch(access_key_id) is None:
        raise SigV4Error("InvalidClientTokenId", "The security token included in the request is invalid.")
    if scope_date != amz_date_text[:8]:
        raise SigV4Error(
            "IncompleteSignature",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{_echo(scope_date)}' != '{amz_date_text[:8]}', from '{amz_date_text}'.",
        )
    if len(region) > 64 or _REGION.fullmatch(region) is None:
        raise SigV4Error(
            "IncompleteSignature", f"Credential should be scoped to a valid region, not '{_echo(region)}'."
        )
    if service not in services:
        expected = ", ".join(f"'{name}'" for name in sorted(services))
        raise SigV4Error("IncompleteSignature", f"Credential should be scoped to correct service: {expected}.")
    if terminator != TERMINATOR:
        raise SigV4Error(
            "IncompleteSignature",
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{_echo(terminator)}'.",
        )
    return access_key_id, scope_date, region, service


def _read_signed_headers(text: str) -> tuple[str, ...]:
    names = [name.lower() for name in text.split(";")]
    for name in names:
        if _HEADER_NAME.fullmatch(name) is None:
            raise SigV4Error("IncompleteSignature", f"SignedHeaders contains an invalid header name: '{_echo(text)}'.")
    if len(set(names)) != len(names):
        raise SigV4Error("IncompleteSignature", f"SignedHeaders lists a header more than once: '{_echo(text)}'.")
    # Without a signed Host a captured signature could be replayed against another host.
    if "host" not in names:
        raise SigV4Error(
            "IncompleteSignature", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return tuple(sorted(names))


# --- Canonicalization (botocore.auth.SigV4Auth) -----------------------------------------------


def _canonical_uri(path: str) -> str:
    # Non-S3 services: remove dot segments and empty segments, then percent-encode the
    # (already encoded) path once more, which is botocore's "double encoding".
    return quote(_normalize_path(path), safe="/~", errors=_LENIENT)


def _normalize_path(path: str) -> str:
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
        else:
            kept.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and kept else ""
    return first + "/".join(kept) + last


def _canonical_query(pairs: list[tuple[str, str]], *, exclude_signature: bool) -> str:
    encoded: list[tuple[str, str]] = []
    for raw_key, raw_value in pairs:
        key = quote_from_bytes(_decode(raw_key), safe=_UNRESERVED)
        if exclude_signature and key == _QUERY_SIGNATURE:
            continue
        encoded.append((key, quote_from_bytes(_decode(raw_value), safe=_UNRESERVED)))
    return "&".join(f"{key}={value}" for key, value in sorted(encoded))


def _canonical_headers(signed_headers: tuple[str, ...], folded: Mapping[str, str]) -> str:
    # A signed header missing from the request canonicalizes as empty, so the signature
    # fails with a hint that shows it, as AWS does.
    return "\n".join(f"{name}:{' '.join(folded.get(name, '').split())}" for name in signed_headers)


def _payload_hash(folded: Mapping[str, str], body: bytes) -> str:
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = folded.get("x-amz-content-sha256")
    if claimed is None:
        return body_hash
    # botocore signs the header's value instead of hashing the body; accept it only when
    # it is the body's hash, so the body stays covered by the signature (no UNSIGNED-PAYLOAD).
    if _HEX_SHA256.fullmatch(claimed) is None or claimed.lower() != body_hash:
        raise SigV4Error(
            "SignatureDoesNotMatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return claimed


# --- Verification ----------------------------------------------------------------------


@lru_cache(maxsize=1024)
def derive_signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
    key = _hmac(("AWS4" + secret_access_key).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def verify_signature(
    req: SignedRequest,
    secret_access_key: str,
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    *,
    include_hint: bool = True,
) -> None:
    """Raise ``RequestExpired`` outside the time window, ``SignatureDoesNotMatch`` on a bad HMAC.

    Header-signed requests are valid within ``max_skew`` of ``now`` either way; presigned
    ones from ``amz_date - max_skew`` until ``amz_date + X-Amz-Expires``. With
    ``include_hint`` the mismatch message carries the canonical request and
    string-to-sign, as AWS's Query APIs do (session token redacted).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    _check_time(req, now.astimezone(UTC), max_skew)
    expected = hmac.new(
        derive_signing_key(secret_access_key, req.date, req.region, req.service),
        req.string_to_sign.encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), req.signature.encode("utf-8", _LENIENT)):
        message = (
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details."
        )
        if include_hint:
            message += (
                "\n\nThe Canonical String for this request should have been\n"
                f"'{_redact_token(req.canonical_request)}'\n\n"
                "The String-to-Sign should have been\n"
                f"'{req.string_to_sign}'\n"
            )
        raise SigV4Error("SignatureDoesNotMatch", message)


def _format(moment: datetime) -> str:
    return moment.strftime(_AMZ_DATE_FORMAT)


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} min."


def _check_time(req: SignedRequest, now: datetime, max_skew: timedelta) -> None:
    signed_at = req.amz_date
    if signed_at - now > max_skew:
        raise SigV4Error(
            "RequestExpired",
            f"Signature not yet current: {_format(signed_at)} is still later than "
            f"{_format(now + max_skew)} ({_format(now)} + {_minutes(max_skew)})",
        )
    if req.presigned:
        assert req.expires is not None  # parse_signed_request sets it for presigned requests
        valid_until = signed_at + timedelta(seconds=req.expires)
        if now > valid_until:
            raise SigV4Error(
                "RequestExpired",
                f"Request has expired: signed at {_format(signed_at)} for {req.expires} seconds, "
                f"valid until {_format(valid_until)}; it is now {_format(now)}.",
            )
    elif now - signed_at > max_skew:
        raise SigV4Error(
            "RequestExpired",
            f"Signature expired: {_format(signed_at)} is now earlier than "
            f"{_format(now - max_skew)} ({_format(now)} - {_minutes(max_skew)})",
        )


def _redact_token(canonical_request: str) -> str:
    # The session token is a bearer secret: the hint shows where it was, not what it was.
    lines = canonical_request.split("\n")
    for index, line in enumerate(lines):
        if index == 2:  # the canonical query string
            lines[index] = "&".join(
                f"{_QUERY_SECURITY_TOKEN}={_REDACTED}" if pair.startswith(_QUERY_SECURITY_TOKEN + "=") else pair
                for pair in line.split("&")
            )
        elif line.startswith(_TOKEN_HEADER + ":"):
            lines[index] = f"{_TOKEN_HEADER}:{_REDACTED}"
    return "\n".join(lines)
