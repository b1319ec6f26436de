"""BrokerClient: verify session tokens locally through the broker's JWKS, and ask for decisions."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt

from broker.client import transport
from broker.client._jwks import JwksCache
from broker.client._signing import sigv4_headers
from broker.client.errors import (
    DecisionRequestError,
    ExpiredTokenError,
    InvalidTokenError,
    JwksError,
    TransportError,
)
from broker.client.models import DecisionResult, MatchedStatement, Principal, VerifiedSession
from broker.crypto.es256 import has_canonical_signature
from broker.crypto.tokens import (
    AUDIENCE,
    TOKEN_TYPE,
    ExpiredSessionToken,
    InvalidSessionToken,
    SessionClaims,
    session_claims,
    verification_options,
)

__all__ = ["BrokerClient", "CredentialsLike", "DecisionQuery"]

JWKS_PATH = "/.well-known/jwks.json"
DECISIONS_PATH = "/v1/decisions"
MAX_TOKEN_LENGTH = 64 * 1024
MAX_JWKS_BYTES = 256 * 1024
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Fields a VerifiedSession takes from the token's SessionClaims as they are (same name, same type).
_CLAIMS_KEPT = (
    "assumed_role_arn",
    "account_id",
    "role_arn",
    "role_name",
    "role_id",
    "session_name",
    "access_key_id",
    "token_id",
    "auth_type",
    "provider_arn",
    "source_identity",
    "transitive_tag_keys",
    "mfa",
)


class _HasCredentials(Protocol):
    """botocore's Credentials / ReadOnlyCredentials (e.g. ``session.get_credentials()``)."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


CredentialsLike = tuple[str, str] | tuple[str, str, str | None] | _HasCredentials
# (action, resource) or (action, resource, context)
DecisionQuery = tuple[str, str] | tuple[str, str, Mapping[str, Any] | None]


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class BrokerClient:
    """A client of one broker, safe to share between threads.

    ``base_url`` is where the client reaches the broker; ``issuer`` is the broker's configured
    ``base_url`` (the tokens' ``iss``) when the two differ, e.g. behind an internal address.
    """

    def __init__(
        self,
        base_url: str,
        jwks_ttl: float = 300,
        *,
        jwks_min_refresh_interval: float = 30,
        issuer: str | None = None,
        timeout: float = 5.0,
        leeway: float = 0,
        region: str = "us-east-1",
        allow_insecure_http: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        base_url = base_url.rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS and not allow_insecure_http:
            # Bearer tokens and decisions must not cross a network in clear text.
            raise ValueError("base_url must use https (or pass allow_insecure_http=True)")
        self.base_url = base_url
        self.issuer = (issuer or base_url).rstrip("/")
        self.timeout = timeout
        self.leeway = leeway
        self.region = region
        self._clock = clock
        self._jwks = JwksCache(
            self._fetch_jwks,
            ttl=jwks_ttl,
            min_refresh_interval=jwks_min_refresh_interval,
            clock=clock,
            fetch_deadline=2 * timeout,  # a connection, then the answer, each within the timeout
        )

    @property
    def jwks_fetches(self) -> int:
        """How many times this client requested the JWKS."""
        return self._jwks.fetches

    # --- Session tokens -------------------------------------------------------------------

    def verify_session_token(self, token: str) -> VerifiedSession:
        """Verify a session token locally (ES256 signature by a JWKS key, iss, aud, exp, nbf).

        Raises :class:`ExpiredTokenError`, :class:`InvalidTokenError`, or :class:`JwksError`
        when no keys could ever be fetched.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError("not a session token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError("not a session token: malformed JWT") from None
        if header.get("alg") != "ES256":
            raise InvalidTokenError("session tokens are signed with ES256")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidTokenError(f"not a session token: typ is not {TOKEN_TYPE}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("the token names no signing key (kid)")
        key = self._jwks.key(kid)
        if key is None:
            raise InvalidTokenError("the token is signed by a key the broker does not publish")
        if not has_canonical_signature(token):  # a high-S twin of a valid signature verifies too
            raise InvalidTokenError("the token's signature does not verify")
        try:
            claims = jwt.decode(
                token, key, algorithms=["ES256"], audience=AUDIENCE, issuer=self.issuer, options=verification_options()
            )
        except jwt.InvalidSignatureError:
            raise InvalidTokenError("the token's signature does not verify") from None
        except jwt.InvalidIssuerError:
            raise InvalidTokenError("the token was issued by another broker") from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError("the token is not meant for the broker's STS audience") from None
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"the token does not verify: {exc.__class__.__name__}") from None
        try:
            session = session_claims(claims, self._clock(), leeway=self.leeway)
        except ExpiredSessionToken as exc:
            raise ExpiredTokenError(str(exc)) from None
        except InvalidSessionToken as exc:
            raise InvalidTokenError(str(exc)) from None
        return _verified_session(session, kid)

    def _fetch_jwks(self) -> object:
        url = self.base_url + JWKS_PATH
        response = transport.send(
            "GET", url, {"Accept": "application/json"}, None, timeout=self.timeout, limit=MAX_JWKS_BYTES
        )
        if response.status != 200:
            raise JwksError(f"GET {url} answered {response.status}")
        try:
            return json.loads(response.body)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser
            raise JwksError(f"GET {url} did not answer JSON") from None

    # --- Decisions ------------------------------------------------------------------------

    def decide(
        self,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        *,
        credentials: CredentialsLike | None = None,
        bearer_token: str | None = None,
    ) -> DecisionResult:
        """Ask whether the caller (whose credentials or session token these are) may do this."""
        body = {"action": action, "resource": resource, "context": dict(context or {})}
        document = self._post(body, credentials, bearer_token)
        return _decision(document, _principal(document.get("principal")))

    def decide_batch(
        self,
        queries: Sequence[DecisionQuery],
        *,
        credentials: CredentialsLike | None = None,
        bearer_token: str | None = None,
    ) -> list[DecisionResult]:
        """Up to 100 decisions for one caller in one request, in the order asked."""
        requests = []
        for query in queries:
            action, resource = query[0], query[1]
            context = query[2] if len(query) > 2 else None
            requests.append({"action": action, "resource": resource, "context": dict(context or {})})
        document = self._post({"requests": requests}, credentials, bearer_token)
        principal = _principal(document.get("principal"))
        results = document.get("results")
        if not isinstance(results, list) or len(results) != len(requests):
            raise TransportError("the broker's batch answer does not match the request")
        return [_decision(result, principal) for result in results]

    def _post(
        self, body: Mapping[str, Any], credentials: CredentialsLike | None, bearer_token: str | None
    ) -> dict[str, Any]:
        if (credentials is None) == (bearer_token is None):
            raise ValueError("pass exactly one of credentials= or bearer_token=")
        url = self.base_url + DECISIONS_PATH
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Host": urlsplit(url).netloc}
        if bearer_token is not None:
            headers["Authorization"] = f"Bearer {bearer_token}"
        else:
            assert credentials is not None
            key, secret, token = _credential_parts(credentials)
            headers = sigv4_headers(
                "POST",
                url,
                headers,
                payload,
                access_key_id=key,
                secret_access_key=secret,
                session_token=token,
                region=self.region,
            )
        response = transport.send("POST", url, headers, payload, timeout=self.timeout, limit=MAX_RESPONSE_BYTES)
        try:
            document = json.loads(response.body)
        except (ValueError, RecursionError):
            document = None
        if response.status != 200:
            error = document.get("error") if isinstance(document, dict) else None
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                raise DecisionRequestError(
                    response.status, error["code"], str(error.get("message", "")), error.get("requestId")
                )
            raise DecisionRequestError(response.status, "HttpError", f"POST {url} answered {response.status}")
        if not isinstance(document, dict):
            raise TransportError(f"POST {url} did not answer a JSON object")
        return document


def _credential_parts(credentials: CredentialsLike) -> tuple[str, str, str | None]:
    if isinstance(credentials, tuple | list):
        if len(credentials) == 2:
            return str(credentials[0]), str(credentials[1]), None
        if len(credentials) == 3:
            token = credentials[2]
            return str(credentials[0]), str(credentials[1]), str(token) if token else None
        raise ValueError("credentials are (access key id, secret access key[, session token])")
    return credentials.access_key, credentials.secret_key, credentials.token or None


def _verified_session(session: SessionClaims, kid: str) -> VerifiedSession:
    mfa_time = session.mfa_auth_time
    return VerifiedSession(
        **{name: getattr(session, name) for name in _CLAIMS_KEPT},
        issued_at=_utc(session.issued_at),
        expires_at=_utc(session.expires_at),
        key_id=kid,
        session_tags=dict(session.session_tags),
        mfa_authenticated_at=None if mfa_time is None else _utc(mfa_time),
        saml_context=dict(session.federated),
    )


def _principal(raw: object) -> Principal:
    if not isinstance(raw, dict):
        raise TransportError("the broker's answer names no principal")
    try:
        return Principal(arn=raw["arn"], account=raw["account"], user_id=raw["userId"], type=raw["type"])
    except KeyError as exc:
        raise TransportError(f"the broker's principal lacks {exc}") from None


def _decision(raw: object, principal: Principal) -> DecisionResult:
    if not isinstance(raw, dict):
        raise TransportError("the broker's decision is not an object")
    try:
        return DecisionResult(
            decision=raw["decision"],
            allowed=raw["allowed"] is True,
            action=raw["action"],
            resource=raw["resource"],
            principal=principal,
            matched_statements=tuple(
                MatchedStatement(
                    policy_id=m["policyId"],
                    sid=m.get("sid"),
                    index=m["index"],
                    effect=m["effect"],
                    policy_type=m["policyType"],
                )
                for m in raw["matchedStatements"]
            ),
            missing_context_keys=tuple(raw["missingContextKeys"]),
            reasons=tuple(raw["reasons"]),
        )
    except (KeyError, TypeError) as exc:
        raise TransportError(f"the broker's decision is malformed ({exc.__class__.__name__}: {exc})") from None
