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
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import jwt

from broker.crypto.es256 import canonical_token, has_canonical_signature
from broker.crypto.keys import TokenKeyRing

if TYPE_CHECKING:
    # Not at run time: PyJWT before 2.10 has no jwt.types.Options.
    from jwt.types import Options

TOKEN_TYPE = "broker-session+jwt"
AUDIENCE = "urn:broker:sts"
# Another broker instance's clock may run a little ahead of the verifier's: its tokens are
# accepted up to this many seconds before their nbf.
CLOCK_SKEW_SECONDS: Final = 300
# Claims every session token carries; a token without one of them is refused.
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "jti", "iat", "nbf", "exp", "akid", "acct", "role", "rnm", "rid", "snm")
_TEXT_CLAIMS: Final = ("sub", "acct", "role", "rnm", "rid", "snm", "akid", "jti")
# auth_type of the temporary credentials GetSessionToken gives an IAM user.
SESSION_TOKEN = "session-token"
# auth_type of GetFederationToken's credentials: a federated user, issued by an IAM user.
FEDERATION = "federation"


class InvalidSessionToken(Exception):
    """The token is malformed, forged, or signed by an unknown key."""


class ExpiredSessionToken(Exception):
    """The token verified but its expiry has passed."""


@dataclass(frozen=True)
class SessionClaims:
    """The session a token carries.

    ``auth_type`` says how it began: ``saml`` (AssumeRoleWithSAML or the browser sign-in),
    ``assume-role`` (AssumeRole, possibly chained), ``session-token`` (GetSessionToken) or
    ``federation`` (GetFederationToken). A session-token session is not a role session: it acts
    as the IAM user, and the ``role_*`` fields then hold the user's ARN, name and unique id,
    ``assumed_role_arn`` the user's ARN. A federation session's ``role_*`` fields hold the IAM
    user that issued it, ``session_name`` the federated user's name and ``assumed_role_arn`` its
    ``arn:aws:sts::ACCOUNT:federated-user/NAME``.
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
    auth_type: str = "saml"  # saml | assume-role | session-token | federation
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
        if self.auth_type == FEDERATION:
            return f"{self.account_id}:{self.session_name}"  # AWS's FederatedUserId
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
    token = jwt.encode(payload, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": TOKEN_TYPE})
    return canonical_token(token)  # low-S: the only form a verifier accepts


def verification_options(required: Sequence[str] = REQUIRED_CLAIMS) -> Options:
    """PyJWT's options for a session token: the claims it must carry. Times are left to
    :func:`session_claims`, which checks them against the verifier's clock, not PyJWT's."""
    return {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "require": list(required)}


def _unverified_kid(token: str) -> str | None:
    """The ``kid`` of the token's header, read without verifying anything, to choose the key.

    Only the short header segment is decoded here (and remembered: every token one key signs
    has the same header); PyJWT then parses the whole token once, and the header it reads
    strictly must name the same key (see :func:`decode_session_token`).
    """
    return _kid_of_header(token.partition(".")[0])


# The longest header segment looked into (base64url characters).
MAX_HEADER_SEGMENT: Final = 512


@lru_cache(maxsize=16)
def _kid_of_header(segment: str) -> str | None:
    # The broker's headers are about 100 characters; nothing this long is one of its tokens, and
    # a long run of brackets would make json.loads recurse until RecursionError.
    if len(segment) > MAX_HEADER_SEGMENT:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


_DECODE_OPTIONS: Final = verification_options((*REQUIRED_CLAIMS, "typ"))


def decode_session_token(token: str, keys: TokenKeyRing, issuer: str, now: float | None = None) -> SessionClaims:
    key = keys.verification_keys().get(_unverified_kid(token) or "")
    # A high-S twin of a valid signature verifies too; it is refused as any bad signature is.
    if key is None or not has_canonical_signature(token):
        raise InvalidSessionToken("The security token included in the request is invalid.")
    try:
        verified = jwt.decode_complete(
            token,
            key.public_key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=issuer,
            # The broker always writes how the session began (typ); a token without it is not its own.
            options=_DECODE_OPTIONS,
        )
    except jwt.PyJWTError:
        raise InvalidSessionToken("The security token included in the request is invalid.") from None
    header = verified["header"]
    if header.get("kid") != key.kid or header.get("alg") != "ES256" or header.get("typ") != TOKEN_TYPE:
        raise InvalidSessionToken("The security token included in the request is invalid.")
    return session_claims(verified["payload"], dt.datetime.now(dt.UTC).timestamp() if now is None else now)


def session_claims(payload: Mapping[str, Any], now: float, *, leeway: float = 0) -> SessionClaims:
    """The session in the payload of a token whose signature, issuer and audience verified.

    The broker reads its own tokens with this, and :mod:`broker.client` the tokens it verifies
    through the JWKS, so both accept the same tokens. The times are checked against ``now``;
    every claim must have the type the broker writes, except that an optional text or time
    claim of another type reads as absent. Raises :class:`ExpiredSessionToken` or
    :class:`InvalidSessionToken`, saying what is wrong (never what the token holds).
    """
    for name in ("iat", "nbf", "exp"):
        value = payload.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidSessionToken(f"the token's {name} claim is not a time")
    if payload["nbf"] > now + CLOCK_SKEW_SECONDS:
        raise InvalidSessionToken("the token is not valid yet")
    if payload["exp"] <= now - leeway:
        raise ExpiredSessionToken("the session has expired")
    for name in _TEXT_CLAIMS:
        if type(payload.get(name)) is not str:  # JSON gives exactly str; no subclass can arrive
            raise InvalidSessionToken("the token's claims are malformed")
    tags = payload.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise InvalidSessionToken("the token's session tags are malformed")
    federated = payload.get("fed") or {}
    if not isinstance(federated, dict):
        raise InvalidSessionToken("the token's federation context is malformed")
    mfa_time = payload.get("mfat")
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
        auth_type=str(payload.get("typ", "")),
        provider_arn=_optional_text(payload, "prv"),
        source_identity=_optional_text(payload, "sid"),
        session_tags=tags,
        transitive_tag_keys=_text_list(payload, "ttk", "transitive tag keys"),
        mfa=payload.get("mfa") is True,
        mfa_auth_time=mfa_time if isinstance(mfa_time, int) and not isinstance(mfa_time, bool) else None,
        session_policy=_optional_text(payload, "pol"),
        policy_arns=_text_list(payload, "parns", "policy ARNs"),
        federated=federated,
    )


def _optional_text(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None


def _text_list(payload: Mapping[str, Any], name: str, what: str) -> tuple[str, ...]:
    values = payload.get(name) or []
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InvalidSessionToken(f"the token's {what} are malformed")
    return tuple(values)
