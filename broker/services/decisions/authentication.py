"""Who asks for a decision: a SigV4 signature over the decision request, or a bearer session token.

The signature's credential scope names the service ``execute-api`` (any region) and may be made
by an IAM user's access key or by temporary credentials; the bearer token is the session token
of temporary credentials. Refusals are 401s with ``WWW-Authenticate`` challenges, except a
malformed signature (400) and a request that mixes both schemes (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl

from broker.crypto.sigv4 import SigV4Error, parse_signed_request
from broker.iam.errors import AwsError, error_class
from broker.services.auth import (
    AccountClosed,
    Bookkeeping,
    Caller,
    HttpRequest,
    authenticate_signed,
    caller_for_token,
    sigv4_error,
)
from broker.services.decisions.errors import DecisionApiError, shown
from broker.services.runtime import Runtime
from broker.store import Tx

SIGV4_SERVICE: Final = "execute-api"
MAX_TOKEN_LENGTH: Final = 64 * 1024

_PRESIGN_MARKERS: Final = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"})
_BEARER_CHALLENGE: Final = 'Bearer realm="broker"'
_SIGV4_CHALLENGE: Final = "AWS4-HMAC-SHA256"
# A malformed signature is a bad request; every other SigV4 failure means the credentials did
# not authenticate, and a request with none is told both schemes.
_MALFORMED_SIGNATURE: Final = error_class("IncompleteSignature")
_NO_CREDENTIALS: Final = error_class("MissingAuthenticationToken")


def _folded(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _is_presigned(query_string: str) -> bool:
    return any(name in _PRESIGN_MARKERS for name, _ in parse_qsl(query_string, keep_blank_values=True))


def scheme_name(http: HttpRequest) -> str:
    """How the request tries to authenticate, for the audit record."""
    scheme = _folded(http.headers).get("authorization", "").strip().partition(" ")[0]
    if scheme.lower() == "bearer":
        return "Bearer"
    if scheme or _is_presigned(http.query_string):
        return "SigV4"
    return "None"


def check_media_type(http: HttpRequest) -> None:
    content_type = _folded(http.headers).get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise DecisionApiError(
            "UnsupportedMediaType", f"The body must be application/json, not {shown(content_type)}.", 415
        )


def bearer_token(http: HttpRequest) -> str | None:
    """The bearer token, if the request uses that scheme; None for SigV4 (or no credentials)."""
    headers = _folded(http.headers)
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    if _is_presigned(http.query_string) or "x-amz-security-token" in headers:
        raise DecisionApiError(
            "InvalidRequest",
            "Only one authentication mechanism is allowed: a bearer token or a SigV4 signature, not both.",
            400,
        )
    token = token.strip()
    if not token:
        raise DecisionApiError(
            "MissingAuthenticationToken",
            "The Authorization header names Bearer but carries no token.",
            401,
            (_BEARER_CHALLENGE + ', error="invalid_request"',),
        )
    return token


def _unauthenticated(error: AwsError, challenges: tuple[str, ...]) -> DecisionApiError:
    refusal = DecisionApiError(error.code, error.message, 401, challenges)
    if isinstance(error, AccountClosed):
        refusal.account_closed = error
    return refusal


def _bearer_refusal(error: AwsError) -> DecisionApiError:
    return _unauthenticated(error, (_BEARER_CHALLENGE + ', error="invalid_token"',))


def _signature_refusal(error: AwsError) -> DecisionApiError:
    if isinstance(error, _MALFORMED_SIGNATURE):
        return DecisionApiError(error.code, error.message, 400)
    challenges = (_SIGV4_CHALLENGE, _BEARER_CHALLENGE) if isinstance(error, _NO_CREDENTIALS) else (_SIGV4_CHALLENGE,)
    return _unauthenticated(error, challenges)


def bearer_caller(runtime: Runtime, tx: Tx, token: str) -> Caller:
    """The caller a session token stands for: the same one its SigV4-signed requests would be."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise _bearer_refusal(AwsError("InvalidClientTokenId"))
    try:
        return caller_for_token(runtime, tx, token)
    except AwsError as exc:
        raise _bearer_refusal(exc) from None


def signature_caller(
    runtime: Runtime, tx: Tx, http: HttpRequest, bookkeeping: list[Bookkeeping] | None = None
) -> Caller:
    """The caller whose SigV4 signature, scoped to the decision API, the request carries (with
    ``bookkeeping``, a key's last use is left there to be written after the read)."""
    # The scope is read before any key lookup: a signature for another service (iam, sts) is
    # not a decision request, whoever made it.
    try:
        signed = parse_signed_request(
            http.method, http.path, http.query_string, http.headers, http.body, services={SIGV4_SERVICE}
        )
    except SigV4Error as exc:
        raise _signature_refusal(sigv4_error(exc)) from None
    try:
        return authenticate_signed(runtime, tx, signed, bookkeeping)
    except AwsError as exc:
        raise _signature_refusal(exc) from None
