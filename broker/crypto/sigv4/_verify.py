"""Checking a parsed request: its time window and its HMAC under the caller's secret."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

from broker.crypto.sigv4._model import (
    AMZ_DATE_FORMAT,
    DEFAULT_MAX_SKEW,
    LENIENT,
    QUERY_SECURITY_TOKEN,
    TERMINATOR,
    TOKEN_HEADER,
    SignedRequest,
    SigV4Error,
)

_REDACTED: Final = "<redacted>"


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
    string-to-sign, as AWS's Query APIs do (session token redacted). A presigned request with
    no body matches when signed over the empty body's hash or over ``UNSIGNED-PAYLOAD``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    _check_time(req, now.astimezone(UTC), max_skew)
    signing_key = derive_signing_key(secret_access_key, req.date, req.region, req.service)
    candidates = [req.string_to_sign]
    if req.unsigned_payload_string_to_sign is not None:
        candidates.append(req.unsigned_payload_string_to_sign)
    provided = req.signature.encode("utf-8", LENIENT)
    matches = [
        hmac.compare_digest(
            hmac.new(signing_key, candidate.encode("utf-8"), hashlib.sha256).hexdigest().encode("ascii"), provided
        )
        for candidate in candidates
    ]
    if not any(matches):
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
    return moment.strftime(AMZ_DATE_FORMAT)


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
                f"{QUERY_SECURITY_TOKEN}={_REDACTED}" if pair.startswith(QUERY_SECURITY_TOKEN + "=") else pair
                for pair in line.split("&")
            )
        elif line.startswith(TOKEN_HEADER + ":"):
            lines[index] = f"{TOKEN_HEADER}:{_REDACTED}"
    return "\n".join(lines)
