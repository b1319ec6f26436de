"""Session tokens: ES256 JWTs carrying the whole session, and the secrets derived from them.

A temporary credential is (AccessKeyId, SecretAccessKey, SessionToken). The token carries
the session; the secret is HMAC(server key, token id), so any broker instance holding the
derivation key verifies a SigV4 signature made with the secret without a database read.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from broker.crypto.keys import TokenKeyRing

TOKEN_TYPE = "broker-session+jwt"
AUDIENCE = "urn:broker:sts"
_LEEWAY_SECONDS = 0
# Another broker instance's clock may run a little ahead of this one's.
_CLOCK_SKEW_SECONDS = 300
# auth_type of the temporary credentials GetSessionToken gives an IAM user.
SESSION_TOKEN = "session-token"


class InvalidSessionToken(Exception):
    """The token is malformed, forged, or signed by an unknown key."""


class ExpiredSessionToken(Exception):
    """The token verified but its expiry has passed."""


@dataclass(frozen=True)
class SessionClaims:
    """The session a token carries.

    ``auth_type`` says how it began: ``saml`` (AssumeRoleWithSAML or the browser sign-in),
    ``assume-role`` (AssumeRole, possibly chained) or ``session-token`` (GetSessionToken). A
    session-token session is not a role session: it acts as the IAM user, and the ``role_*``
    fields then hold the user's ARN, name and unique id, ``assumed_role_arn`` the user's ARN.
    """

    token_id: str
    access_key_id: str
    account_id: str
    role_arn: str
    role_name: str
    role_id: str
    session_name: str
    assumed_role_arn: str
    issued_at: int
    expires_at: int
    auth_type: str = "saml"  # saml | assume-role | session-token
    provider_arn: str | None = None
    source_identity: str | None = None
    session_tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    mfa: bool = False
    mfa_auth_time: int | None = None
    session_policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    federated: Mapping[str, Any] = field(default_factory=dict)  # saml:* context of the sign-in

    @property
    def user_id(self) -> str:
        if self.auth_type == SESSION_TOKEN:
            return self.role_id  # the IAM user's own unique id, as aws:userid of its sessions
        return f"{self.role_id}:{self.session_name}"

    @property
    def expiration(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.expires_at, dt.UTC)


def derive_secret(derivation_key: bytes, token_id: str) -> str:
    """40-character secret access key for a token id (AWS secrets are 40 base64 characters)."""
    mac = hmac.new(derivation_key, b"broker-session-secret\x00" + token_id.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()[:40]


def encode_session_token(claims: SessionClaims, keys: TokenKeyRing, issuer: str) -> str:
    payload: dict[str, Any] = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": claims.assumed_role_arn,
        "jti": claims.token_id,
        "iat": claims.issued_at,
        "nbf": claims.issued_at,
        "exp": claims.expires_at,
        "akid": claims.access_key_id,
        "acct": claims.account_id,
        "role": claims.role_arn,
        "rnm": claims.role_name,
        "rid": claims.role_id,
        "snm": claims.session_name,
        "typ": claims.auth_type,
    }
    optional: dict[str, Any] = {
        "prv": claims.provider_arn,
        "sid": claims.source_identity,
        "tags": dict(claims.session_tags) or None,
        "ttk": list(claims.transitive_tag_keys) or None,
        "mfa": claims.mfa or None,
        "mfat": claims.mfa_auth_time,
        "pol": claims.session_policy,
        "parns": list(claims.policy_arns) or None,
        "fed": dict(claims.federated) or None,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    key = keys.current
    return jwt.encode(payload, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": TOKEN_TYPE})


def decode_session_token(token: str, keys: TokenKeyRing, issuer: str, now: float | None = None) -> SessionClaims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidSessionToken("The security token included in the request is invalid.") from None
    key = keys.verification_keys().get(str(header.get("kid")))
    if key is None or header.get("alg") != "ES256" or header.get("typ") != TOKEN_TYPE:
        raise InvalidSessionToken("The security token included in the request is invalid.")
    try:
        payload = jwt.decode(
            token,
            key.public_key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=issuer,
            # Times are checked below against the caller's clock, not PyJWT's.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "iat", "nbf", "jti", "akid"],
            },
        )
    except jwt.PyJWTError:
        raise InvalidSessionToken("The security token included in the request is invalid.") from None
    current = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    if payload["nbf"] > current + _CLOCK_SKEW_SECONDS:
        raise InvalidSessionToken("The security token included in the request is invalid.")
    if payload["exp"] <= current - _LEEWAY_SECONDS:
        raise ExpiredSessionToken("The security token included in the request is expired")
    try:
        return SessionClaims(
            token_id=payload["jti"],
            access_key_id=payload["akid"],
            account_id=payload["acct"],
            role_arn=payload["role"],
            role_name=payload["rnm"],
            role_id=payload["rid"],
            session_name=payload["snm"],
            assumed_role_arn=payload["sub"],
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
            auth_type=payload["typ"],
            provider_arn=payload.get("prv"),
            source_identity=payload.get("sid"),
            session_tags=payload.get("tags") or {},
            transitive_tag_keys=tuple(payload.get("ttk") or ()),
            mfa=bool(payload.get("mfa")),
            mfa_auth_time=payload.get("mfat"),
            session_policy=payload.get("pol"),
            policy_arns=tuple(payload.get("parns") or ()),
            federated=payload.get("fed") or {},
        )
    except KeyError:
        raise InvalidSessionToken("The security token included in the request is invalid.") from None
