"""Who is calling: a SigV4 signature (long-term key or temporary credentials) or a session token.

A long-term key is looked up on every request, so a key made Inactive or deleted stops working
at once; temporary credentials are verified without a database read (the secret derives from
the token id). Whatever the credentials, a principal of an account that Organizations' CloseAccount
closed is refused as well (:class:`AccountClosed`). Failures are :class:`~broker.iam.errors.AwsError`
with AWS's codes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeVar, cast

from broker.crypto.box import DecryptionError
from broker.crypto.sigv4 import (
    SUPPORTED_SERVICES,
    SignedRequest,
    SigV4Error,
    parse_signed_request,
    verify_signature,
)
from broker.crypto.tokens import (
    FEDERATION,
    SESSION_TOKEN,
    ExpiredSessionToken,
    InvalidSessionToken,
    SessionClaims,
    decode_session_token,
    derive_secret,
)
from broker.iam.errors import AwsError, InvalidClientTokenId
from broker.services.audit import AuditScope, ClientInfo
from broker.services.auth.caller import AuthorizationMessages, Caller, principal_tags
from broker.services.cache import VersionedCache
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store.auth import SigningKey, account_closed, record_key_use, signing_key
from broker.store.iam import principals

# How stale a recorded key use may get before a request rewrites it (AWS: hours).
KEY_USE_GRANULARITY = dt.timedelta(hours=1)
KEY_USE_CHANGE_GRANULARITY = dt.timedelta(minutes=5)
T = TypeVar("T")
# A write a read-only request leaves for after its answer (a key's last use).
Bookkeeping = Callable[[Tx], None]
KeyUse = tuple[dt.datetime | None, str | None, str | None]  # when, service, region


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


class AccountClosed(InvalidClientTokenId):
    """Credentials of a principal whose account is closed (SUSPENDED): refused as credentials that
    are no longer valid are (AWS documents no error of its own for a suspended account).

    The caller only learns that its credentials are invalid; the audit trail learns who was refused
    (the credentials did prove it) and why (:meth:`noted_in`).
    """

    def __init__(self, caller: Caller) -> None:
        super().__init__("InvalidClientTokenId")
        self.actor = caller.actor()

    def noted_in(self, audit: AuditScope) -> None:
        """Name the refused principal in the refusal's event, and the account's status."""
        audit.actor = self.actor
        audit.additional = {**(audit.additional or {}), "accountStatus": "SUSPENDED"}


def sigv4_error(exc: SigV4Error) -> AwsError:
    """A SigV4 failure as the AWS error it is answered with."""
    return AwsError(exc.code, exc.message)


class _Verified(NamedTuple):
    claims: SessionClaims
    ring: object  # the token key ring that verified them: the loaded one, or they are checked again


def session_claims(runtime: Runtime, token: str) -> SessionClaims:
    """The claims of a session token the broker issued and that has not expired.

    A token's signature is verified once per key ring: the claims are remembered under the
    SHA-256 of the exact token text (the same bytes verify the same way every time) with the ring
    that verified them, and each later use only checks that the session has not expired and that
    the ring is still the one loaded. A busy session costs no ECDSA verification per request, and
    a rotation that retires the signing key (`broker keys rotate --tokens --retire --force`)
    refuses its tokens on every instance once it reloads its keys, not only on those that had
    never seen them.
    """
    now = runtime.now().timestamp()
    ring = runtime.keys.token_keys
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    remembered = runtime.cache.fact(("verified-token", digest))
    if isinstance(remembered, _Verified) and remembered.ring is ring:
        if remembered.claims.expires_at <= now:
            raise AwsError("ExpiredToken")
        return remembered.claims
    try:
        claims = decode_session_token(token, ring, runtime.settings.base_url, now=now)
    except ExpiredSessionToken:
        raise AwsError("ExpiredToken") from None
    except InvalidSessionToken:
        raise _invalid_token() from None
    runtime.cache.remember(("verified-token", digest), _Verified(claims, ring))
    return claims


def authenticate(
    runtime: Runtime,
    tx: Tx,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    bookkeeping: list[Bookkeeping] | None = None,
    *,
    service: str | None = None,
) -> tuple[Caller, SignedRequest]:
    """The caller whose SigV4 signature the request carries, and what it signed.

    ``service`` is the signing name of the service called (``iam``, ``sts``...): a credential
    scope naming another is refused, before any key is looked up, as AWS refuses it."""
    try:
        signed = parse_signed_request(
            method, path, query_string, headers, body, services=SUPPORTED_SERVICES if service is None else {service}
        )
    except SigV4Error as exc:
        raise sigv4_error(exc) from None
    return authenticate_signed(runtime, tx, signed, bookkeeping), signed


def authenticate_signed(
    runtime: Runtime, tx: Tx, signed: SignedRequest, bookkeeping: list[Bookkeeping] | None = None
) -> Caller:
    """The caller whose key (long-term, or temporary with its session token) made ``signed``.

    A long-term key's last use is written in ``tx`` when it is news; with ``bookkeeping`` given
    (``tx`` only reads), the write is appended there for the caller to run in a transaction of
    its own once the request is answered.
    """
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
        caller = caller_for_claims(tx, claims, messages, runtime.cache)
    else:
        key = _signing_key(runtime, tx, signed.access_key_id)
        if key is None or key.status != "Active" or signed.security_token:
            raise _invalid_token()
        try:
            secret = runtime.open_sealed(key.secret_sealed, associated_data=key.access_key_id)
        except DecryptionError:
            raise _invalid_token() from None
        caller = Caller.signing_with(key, messages, runtime.cache)
    try:
        verify_signature(signed, secret, now, max_skew=dt.timedelta(seconds=runtime.settings.sigv4_max_skew_seconds))
    except SigV4Error as exc:
        raise sigv4_error(exc) from None
    if key is None:
        refuse_closed_account(runtime.cache, tx, caller)
    else:
        if key.account_closed:  # read, and cached, with the key
            raise AccountClosed(caller)
        use = (now, signed.service, signed.region)
        remembered = runtime.cache.fact(("key-use", key.access_key_id))
        recorded = cast(KeyUse, remembered) if remembered is not None else key.last_used
        if _last_use_is_news(recorded, *use):
            runtime.cache.remember(("key-use", key.access_key_id), use)
            if bookkeeping is None:
                record_key_use(tx, key.access_key_id, *use)
            else:
                bookkeeping.append(lambda write_tx: record_key_use(write_tx, key.access_key_id, *use))
    return caller


def caller_for_token(runtime: Runtime, tx: Tx, token: str) -> Caller:
    """The caller a session token presented on its own (a bearer token) stands for: the same one
    its SigV4-signed requests would be, refused alike when its account is closed."""
    caller = caller_for_claims(tx, session_claims(runtime, token), cache=runtime.cache)
    refuse_closed_account(runtime.cache, tx, caller)
    return caller


def refuse_closed_account(cache: VersionedCache | None, tx: Tx, caller: Caller) -> None:
    """Raise :class:`AccountClosed` if the account of the caller (temporary credentials) is closed.

    The account's state is held in the versioned cache under the stamp the request reads anyway
    (a long-term key's comes with the key, cached alike): a warm request sends no statement for
    it, and closing an account (a tracked row) bumps the generations, so every process refuses
    at its next request.
    """
    account = caller.account_id
    if _cached(cache, tx, account, ("account-closed", account), account_closed, account):
        raise AccountClosed(caller)


def write_bookkeeping(runtime: Runtime, bookkeeping: Sequence[Bookkeeping]) -> None:
    """Run what a read left for after its answer, in one write transaction; nothing if empty."""
    if bookkeeping:
        with runtime.db.transaction() as tx:
            for write in bookkeeping:
                write(tx)


def _signing_key(runtime: Runtime, tx: Tx, access_key_id: str) -> SigningKey | None:
    """The key, from the versioned cache once its account is known (one statement: the stamp).
    A key id's account never changes, so it is remembered without a stamp."""
    account = runtime.cache.fact(("key-account", access_key_id))
    if not isinstance(account, str):
        key = signing_key(tx, access_key_id)
        if key is not None:
            runtime.cache.remember(("key-account", access_key_id), key.user.account_id)
        return key
    return runtime.cache.get(tx, account, ("signing-key", access_key_id), lambda: signing_key(tx, access_key_id))


def _last_use_is_news(recorded: KeyUse, now: dt.datetime, service: str, region: str) -> bool:
    """Whether this use changes what GetAccessKeyLastUsed should say. AWS reports a key's last use
    with hours of delay; the broker writes it on first use, when the recorded time is older than
    KEY_USE_GRANULARITY, or when the service or region changed and the record is older than
    KEY_USE_CHANGE_GRANULARITY, so a busy key costs no write per request, even one that
    alternates between services."""
    when, last_service, last_region = recorded
    if when is None:
        return True
    age = now - when
    changed = (last_service, last_region) != (service, region)
    return age >= KEY_USE_GRANULARITY or (changed and age >= KEY_USE_CHANGE_GRANULARITY)


def caller_for_claims(
    tx: Tx,
    claims: SessionClaims,
    messages: AuthorizationMessages | None = None,
    cache: VersionedCache | None = None,
) -> Caller:
    """The caller a verified session token stands for, with its principal tags."""
    memo: dict[str, Any] = {}
    user_name = None
    if claims.auth_type == SESSION_TOKEN:
        kind: Literal["user", "session"] = "user"
        user_name = claims.role_name
        user = _cached(cache, tx, claims.account_id, ("user", claims.role_id), principals.user_with_id, claims.role_id)
        tags = dict(user.tags) if user is not None else {}
    elif claims.auth_type == FEDERATION:
        # A federated user: the issuing IAM user's tags, overridden by the session's own.
        kind = "session"
        user = _cached(cache, tx, claims.account_id, ("user", claims.role_id), principals.user_with_id, claims.role_id)
        tags = principal_tags(user.tags if user is not None else None, claims.session_tags)
    else:
        kind = "session"
        # Read once with its policies: the tags are needed now, the policies by the authorization
        # that almost always follows (applicable_policies takes it from the memo).
        role = memo["role"] = _cached(
            cache, tx, claims.account_id, ("role", claims.role_arn), principals.role_policies, claims.role_arn
        )
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
        cache=cache,
    )


def _cached(
    cache: VersionedCache | None, tx: Tx, account_id: str, key: Hashable, load: Callable[[Tx, str], T], arg: str
) -> T:
    if cache is None:
        return load(tx, arg)
    return cache.get(tx, account_id, key, lambda: load(tx, arg))
