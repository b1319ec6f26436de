"""Reading the SigV4 parts of a request: the Authorization header or the presigned query."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from broker.crypto.sigv4._canonical import canonical_request, decode, presigned_payload_hashes, string_to_sign
from broker.crypto.sigv4._model import (
    ALGORITHM,
    AMZ_DATE_FORMAT,
    MAX_PRESIGNED_EXPIRES,
    QUERY_SECURITY_TOKEN,
    QUERY_SIGNATURE,
    SUPPORTED_SERVICES,
    TERMINATOR,
    TOKEN_HEADER,
    SignedRequest,
    SigV4Error,
    credential_scope,
    echo,
)

_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
# Real key ids are 16..128 word characters; AWS's own test suite uses the 11-character
# AKIDEXAMPLE, so only the alphabet and an upper bound are checked here. Existence is the
# caller's check (InvalidClientTokenId as well).
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_]{1,128}")
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")  # RFC 9110 token, lowercased

_QUERY_ALGORITHM: Final = "X-Amz-Algorithm"
_QUERY_CREDENTIAL: Final = "X-Amz-Credential"
_QUERY_DATE: Final = "X-Amz-Date"
_QUERY_EXPIRES: Final = "X-Amz-Expires"
_QUERY_SIGNED_HEADERS: Final = "X-Amz-SignedHeaders"
_PRESIGN_REQUIRED: Final = (
    _QUERY_ALGORITHM,
    _QUERY_CREDENTIAL,
    QUERY_SIGNATURE,
    _QUERY_SIGNED_HEADERS,
    _QUERY_DATE,
    _QUERY_EXPIRES,
)
_PRESIGN_PARAMS: Final = frozenset((*_PRESIGN_REQUIRED, QUERY_SECURITY_TOKEN))
_PRESIGN_MARKERS: Final = frozenset((_QUERY_ALGORITHM, _QUERY_CREDENTIAL, QUERY_SIGNATURE))


@dataclass(frozen=True, slots=True)
class _Claims:
    """What the Authorization header or the presigned query says, not yet checked."""

    credential: str
    signed_headers: str
    signature: str
    amz_date_text: str  # as the string-to-sign spells it
    amz_date: datetime
    expires: int | None = None


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
        claims = _read_authorization(authorization, folded)
        security_token = folded.get(TOKEN_HEADER)
    else:
        claims = _read_presigned(params)
        security_token = params.get(QUERY_SECURITY_TOKEN)

    access_key_id, scope_date, region, service = _read_credential(claims.credential, claims.amz_date_text, services)
    signed_headers = _read_signed_headers(claims.signed_headers)
    _refuse_unsigned_amz_headers(folded, signed_headers)

    scope = credential_scope(scope_date, region, service)
    payload_hashes = presigned_payload_hashes(folded, body) if presigned else (None,)
    canonical = canonical_request(
        method, path, pairs, folded, signed_headers, body, presigned=presigned, payload_hash=payload_hashes[0]
    )
    unsigned_payload: str | None = None
    if len(payload_hashes) > 1:
        alternative = canonical_request(
            method, path, pairs, folded, signed_headers, body, presigned=True, payload_hash=payload_hashes[1]
        )
        unsigned_payload = string_to_sign(claims.amz_date_text, scope, alternative)
    return SignedRequest(
        access_key_id=access_key_id,
        date=scope_date,
        region=region,
        service=service,
        amz_date=claims.amz_date,
        signed_headers=signed_headers,
        signature=claims.signature,
        security_token=security_token,
        presigned=presigned,
        expires=claims.expires,
        canonical_request=canonical,
        string_to_sign=string_to_sign(claims.amz_date_text, scope, canonical),
        unsigned_payload_string_to_sign=unsigned_payload,
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


def _decode_auth_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for raw_key, raw_value in pairs:
        key = decode(raw_key).decode("utf-8", "replace")
        if key not in _PRESIGN_PARAMS:
            continue
        if key in params:
            raise SigV4Error("IncompleteSignature", f"The query-string parameter '{key}' is given more than once.")
        try:
            params[key] = decode(raw_value).decode("utf-8")
        except UnicodeDecodeError:
            raise SigV4Error("IncompleteSignature", f"The query-string parameter '{key}' is not valid UTF-8.") from None
    return params


def _unsupported_algorithm(algorithm: str) -> SigV4Error:
    return SigV4Error(
        "IncompleteSignature",
        f"Unsupported AWS 'algorithm': '{echo(algorithm)}'. Sign requests with {ALGORITHM}.",
    )


def _read_authorization(authorization: str, folded: Mapping[str, str]) -> _Claims:
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.startswith("AWS4-") and scheme != ALGORITHM:
        raise _unsupported_algorithm(scheme)
    # Echo the header back only when it is SigV4-shaped: anything else (Basic, Bearer)
    # may carry a credential, which must not reach a message.
    shown = echo(authorization if scheme == ALGORITHM else scheme)
    components = _authorization_components(rest, shown) if scheme == ALGORITHM else {}

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
    return _Claims(
        credential=components["Credential"],
        signed_headers=components["SignedHeaders"],
        signature=components["Signature"],
        amz_date_text=amz_date_text,
        amz_date=amz_date,
    )


def _authorization_components(rest: str, shown: str) -> dict[str, str]:
    """``Credential=...``, ``SignedHeaders=...``, ``Signature=...`` after the algorithm."""
    components: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        key, equals, value = part.partition("=")
        if not equals:
            raise SigV4Error(
                "IncompleteSignature",
                f"'{echo(part)}' not a valid key=value pair (missing equal-sign) in Authorization header: '{shown}'.",
            )
        key = key.strip()
        if key in components:
            raise SigV4Error(
                "IncompleteSignature",
                f"Authorization header has the '{echo(key)}' parameter more than once.",
            )
        components[key] = value.strip()
    return components


def _read_presigned(params: Mapping[str, str]) -> _Claims:
    missing = [name for name in _PRESIGN_REQUIRED if not params.get(name)]
    if missing:
        raise SigV4Error(
            "IncompleteSignature",
            " ".join(f"AWS query-string parameters must include '{name}'." for name in missing)
            + " Re-examine the query-string parameters.",
        )
    if params[_QUERY_ALGORITHM] != ALGORITHM:
        raise _unsupported_algorithm(params[_QUERY_ALGORITHM])
    expires_text = params[_QUERY_EXPIRES]
    if not expires_text.isascii() or not expires_text.isdigit() or len(expires_text) > 7:
        raise SigV4Error("IncompleteSignature", "X-Amz-Expires should be a number of seconds.")
    expires = int(expires_text)
    if expires < 1:
        raise SigV4Error("IncompleteSignature", "X-Amz-Expires must be at least 1 second.")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise SigV4Error(
            "IncompleteSignature",
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}.",
        )
    amz_date_text, amz_date = _read_date(params[_QUERY_DATE], from_date_header=False)
    return _Claims(
        credential=params[_QUERY_CREDENTIAL],
        signed_headers=params[_QUERY_SIGNED_HEADERS],
        signature=params[QUERY_SIGNATURE],
        amz_date_text=amz_date_text,
        amz_date=amz_date,
        expires=expires,
    )


def _read_date(value: str, *, from_date_header: bool) -> tuple[str, datetime]:
    """The request time as the string-to-sign spells it, and as a UTC datetime."""
    if from_date_header:
        # botocore sends an RFC 1123 Date header (and no X-Amz-Date) when the caller set
        # one; the string-to-sign still uses the ISO 8601 basic form.
        try:
            parsed = parsedate_to_datetime(value)
            # A year past datetime's range, or a date at its edge that an offset moves past it,
            # overflows here or in the conversion.
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise SigV4Error("IncompleteSignature", "The Date header must be an RFC 1123 date.") from None
        return parsed.strftime(AMZ_DATE_FORMAT), parsed
    if _AMZ_DATE.fullmatch(value) is None:
        raise SigV4Error(
            "IncompleteSignature", "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    try:
        # The pattern above fixed every character: the fields are ASCII digits at known places.
        parsed = datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]), int(value[11:13]),
            int(value[13:15]), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        raise SigV4Error("IncompleteSignature", f"X-Amz-Date '{echo(value)}' is not a valid date and time.") from None
    return value, parsed


def _read_credential(credential: str, amz_date_text: str, services: Collection[str]) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise SigV4Error(
            "IncompleteSignature",
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{echo(credential)}'",
        )
    access_key_id, scope_date, region, service, terminator = parts
    if _ACCESS_KEY_ID.fullmatch(access_key_id) is None:
        raise SigV4Error("InvalidClientTokenId", "The security token included in the request is invalid.")
    if scope_date != amz_date_text[:8]:
        raise SigV4Error(
            "IncompleteSignature",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{echo(scope_date)}' != '{amz_date_text[:8]}', from '{amz_date_text}'.",
        )
    if len(region) > 64 or _REGION.fullmatch(region) is None:
        raise SigV4Error("IncompleteSignature", f"Credential should be scoped to a valid region, not '{echo(region)}'.")
    if service not in services:
        # AWS's code and words, trailing space included: a signature made for one service (sts)
        # must not authenticate a call to another (iam). The HMAC is never computed.
        expected = ", ".join(f"'{name}'" for name in sorted(services))
        raise SigV4Error("SignatureDoesNotMatch", f"Credential should be scoped to correct service: {expected}. ")
    if terminator != TERMINATOR:
        raise SigV4Error(
            "IncompleteSignature",
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{echo(terminator)}'.",
        )
    return access_key_id, scope_date, region, service


_MAY_GO_UNSIGNED: Final = frozenset({TOKEN_HEADER, "x-amz-content-sha256"})


def _refuse_unsigned_amz_headers(folded: Mapping[str, str], signed_headers: Collection[str]) -> None:
    """Every ``x-amz-*`` header the request carries must be signed, as AWS requires: the broker
    acts on some of them (``X-Amz-Target`` names the action), so one left out of the signature
    would let a captured request be replayed as another action. Two may go unsigned, since they
    cannot change what a request means: the session token (bound to the access key it was issued
    with; some clients add it after signing) and the body's hash (checked against the body)."""
    unsigned = sorted(
        name
        for name in folded
        if name.startswith("x-amz-") and name not in signed_headers and name not in _MAY_GO_UNSIGNED
    )
    if unsigned:
        raise SigV4Error(
            "AccessDenied", f"There were headers present in the request which were not signed: {', '.join(unsigned)}"
        )


def _read_signed_headers(text: str) -> tuple[str, ...]:
    names = [name.lower() for name in text.split(";")]
    for name in names:
        if _HEADER_NAME.fullmatch(name) is None:
            raise SigV4Error("IncompleteSignature", f"SignedHeaders contains an invalid header name: '{echo(text)}'.")
    if len(set(names)) != len(names):
        raise SigV4Error("IncompleteSignature", f"SignedHeaders lists a header more than once: '{echo(text)}'.")
    # Without a signed Host a captured signature could be replayed against another host.
    if "host" not in names:
        raise SigV4Error(
            "IncompleteSignature", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return tuple(sorted(names))
