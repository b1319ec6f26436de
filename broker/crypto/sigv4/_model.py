"""What a SigV4-signed request says about itself, and the error a bad one raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

ALGORITHM: Final = "AWS4-HMAC-SHA256"
TERMINATOR: Final = "aws4_request"
SUPPORTED_SERVICES: Final = frozenset({"sts", "iam", "organizations", "cloudtrail", "execute-api"})
DEFAULT_MAX_SKEW: Final = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES: Final = 7 * 24 * 3600  # AWS's cap on X-Amz-Expires: one week

AMZ_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
QUERY_SIGNATURE: Final = "X-Amz-Signature"
QUERY_SECURITY_TOKEN: Final = "X-Amz-Security-Token"
TOKEN_HEADER: Final = "x-amz-security-token"
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"

# Lone surrogates never come from a WSGI server, but a str can carry them; encoding them
# through keeps hostile input a signature mismatch instead of an exception.
LENIENT: Final = "surrogatepass"


def echo(value: str, limit: int = 256) -> str:
    """A request part fit for an error message."""
    # Echoed request parts are attacker-chosen and end up in logs: shorten them and escape
    # control characters so they can't forge log lines.
    shown = value if len(value) <= limit else value[:limit] + "..."
    if shown.isprintable():
        return shown
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
    # A presigned request without a body may have been signed over UNSIGNED-PAYLOAD instead
    # of the empty body's hash: the string-to-sign for that reading, tried second.
    unsigned_payload_string_to_sign: str | None = field(default=None, repr=False)

    @property
    def credential_scope(self) -> str:
        return credential_scope(self.date, self.region, self.service)


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/{TERMINATOR}"
