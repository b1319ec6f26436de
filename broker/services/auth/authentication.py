"""Who is calling: a SigV4 signature (long-term key or temporary credentials) or a session token.

A long-term key is looked up on every request, so a key made Inactive or deleted stops working
at once; temporary credentials are verified without a database read (the secret derives from
the token id). Failures are :class:`~broker.iam.errors.AwsError` with AWS's codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from broker.crypto.box import DecryptionError
from broker.crypto.sigv4 import SignedRequest, SigV4Error, parse_signed_request, verify_signature
from broker.crypto.tokens import (
    SESSION_TOKEN,
    ExpiredSessionToken,
    InvalidSessionToken,
    SessionClaims,
    decode_session_token,
    derive_secret,
)
from broker.iam.errors import AwsError
from broker.services.audit import ClientInfo
from broker.services.auth.caller import AuthorizationMessages, Caller, principal_tags
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store.auth import SigningKey, record_key_use, signing_key
from broker.store.iam import principals

# How stale a recorded key use may get before a request rewrites it (AWS: hours).
KEY_USE_GRANULARITY = dt.timedelta(hours=1)


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as SigV4 saw it signed; ``path`` is raw, as sent (not percent-decoded)."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    secure: bool
    client: ClientInfo


def _invalid_token() -> AwsError:
    return AwsError("InvalidClientTokenId")


def sigv4_error(exc: SigV4Error) -> AwsError:
    """A SigV4 failure as the AWS error it is answered with."""
    return AwsError(exc.code, exc.message)


def session_claims(runtime: Runtime, token: str) -> SessionClaims:
    """The claims of a session token the broker issued and that has not expired."""
    try:
        return decode_session_token(
            token, runtime.keys.token_keys, runtime.settings.base_url, now=runtime.now().timestamp()
        )
    except ExpiredSessionToken:
        raise AwsError("ExpiredToken") from None
    except InvalidSessionToken:
        raise _invalid_token() from None


def authenticate(
    runtime: Runtime,
    tx: Tx,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[Caller, SignedRequest]:
    """The caller whose SigV4 signature the request carries, and what it signed."""
    try:
        signed = parse_signed_request(method, path, query_string, headers, body)
    except SigV4Error as exc:
        raise sigv4_error(exc) from None
    return authenticate_signed(runtime, tx, signed), signed


def authenticate_signed(runtime: Runtime, tx: Tx, signed: SignedRequest) -> Caller:
    """The caller whose key (long-term, or temporary with its session token) made ``signed``."""
    now = runtime.now()
    messages = AuthorizationMessages(runtime.box)
    key = None
    if signed.access_key_id.startswith("ASIA"):
        if not signed.security_token:
            raise _invalid_token()
        claims = session_claims(runtime, signed.security_token)
        if claims.access_key_id != signed.access_key_id:
            raise _invalid_token()
        secret = derive_secret(runtime.keys.secret_derivation_key, claims.token_id)
        caller = caller_for_claims(tx, claims, messages)
    else:
        key = signing_key(tx, signed.access_key_id)
        if key is None or key.status != "Active" or signed.security_token:
            raise _invalid_token()
        try:
            secret = runtime.box.open(key.secret_sealed, associated_data=key.access_key_id)
        except DecryptionError:
            raise _invalid_token() from None
        caller = Caller.signing_with(key, messages)
    try:
        verify_signature(signed, secret, now, max_skew=dt.timedelta(seconds=runtime.settings.sigv4_max_skew_seconds))
    except SigV4Error as exc:
        raise sigv4_error(exc) from None
    if key is not None and _last_use_is_news(key, now, signed.service, signed.region):
        record_key_use(tx, key.access_key_id, now, signed.service, signed.region)
    return caller


def _last_use_is_news(key: SigningKey, now: dt.datetime, service: str, region: str) -> bool:
    """Whether this use changes what GetAccessKeyLastUsed should say. AWS reports a key's last use
    with hours of delay; the broker writes it when the service or region changes, or when the
    recorded time is older than KEY_USE_GRANULARITY, so a busy key costs no write per request."""
    when, last_service, last_region = key.last_used
    return when is None or (last_service, last_region) != (service, region) or now - when >= KEY_USE_GRANULARITY


def caller_for_claims(tx: Tx, claims: SessionClaims, messages: AuthorizationMessages | None = None) -> Caller:
    """The caller a verified session token stands for, with its principal tags."""
    memo: dict[str, Any] = {}
    user_name = None
    if claims.auth_type == SESSION_TOKEN:
        kind: Literal["user", "session"] = "user"
        user_name = claims.role_name
        user = principals.user_with_id(tx, claims.role_id)
        tags = dict(user.tags) if user is not None else {}
    else:
        kind = "session"
        # Read once with its policies: the tags are needed now, the policies by the authorization
        # that almost always follows (applicable_policies takes it from the memo).
        role = memo["role"] = principals.role_policies(tx, claims.role_arn)
        role_tags = role.tags if role is not None and role.unique_id == claims.role_id else None
        tags = principal_tags(role_tags, claims.session_tags)
    return Caller(
        kind=kind,
        arn=claims.assumed_role_arn,
        account_id=claims.account_id,
        user_id=claims.user_id,
        access_key_id=claims.access_key_id,
        user_name=user_name,
        claims=claims,
        tags=tags,
        messages=messages,
        _memo=memo,
    )
