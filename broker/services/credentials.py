"""Issuing temporary credentials: role sessions (browser flow, AssumeRoleWithSAML, AssumeRole)
and IAM users' session tokens (GetSessionToken).

A temporary access key id encodes its account, as AWS's do, so ``GetAccessKeyInfo`` answers
for any key the broker issued without storing them: ``ASIA`` + 8 base32 characters of the
account number (40 bits) + 8 random ones.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, Unpack

from broker.crypto.tokens import FEDERATION, SESSION_TOKEN, SessionClaims, derive_secret, encode_session_token
from broker.iam.arn import assumed_role_arn, federated_user_arn
from broker.iam.ids import TEMPORARY_KEY_PREFIX, is_account_id, new_access_key_id
from broker.iam.timestamps import aws_timestamp
from broker.services import metrics
from broker.services.runtime import Runtime

_ACCOUNT_CHARS = 8  # base32 of 5 bytes


def temporary_access_key_id(account_id: str) -> str:
    encoded = base64.b32encode(int(account_id).to_bytes(5, "big")).decode()
    random_part = new_access_key_id(temporary=True)[-_ACCOUNT_CHARS:]
    return TEMPORARY_KEY_PREFIX + encoded + random_part


def account_of_temporary_key(access_key_id: str) -> str | None:
    """The account a temporary key id names, or None if it is not one the broker issued."""
    prefix = len(TEMPORARY_KEY_PREFIX)
    if not access_key_id.startswith(TEMPORARY_KEY_PREFIX) or len(access_key_id) != prefix + 2 * _ACCOUNT_CHARS:
        return None
    try:
        number = int.from_bytes(base64.b32decode(access_key_id[prefix : prefix + _ACCOUNT_CHARS]), "big")
    except (binascii.Error, ValueError):
        return None
    account = f"{number:012d}"
    return account if is_account_id(account) else None


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: dt.datetime
    assumed_role_arn: str
    assumed_role_id: str
    claims: SessionClaims

    def expiration_iso(self) -> str:
        return aws_timestamp(self.expiration)

    def audit_elements(self) -> dict[str, Any]:
        """The trail's ``responseElements`` of an issuance: the key id and who it acts as, never a secret."""
        return {
            "credentials": {"accessKeyId": self.access_key_id, "expiration": self.expiration_iso()},
            "assumedRoleUser": {"arn": self.assumed_role_arn, "assumedRoleId": self.assumed_role_id},
        }

    def credential_process_json(self) -> dict[str, Any]:
        return {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration_iso(),
        }


class _Identity(Protocol):
    @property
    def account_id(self) -> str: ...

    @property
    def arn(self) -> str: ...

    @property
    def name(self) -> str: ...


class RoleIdentity(_Identity, Protocol):
    """Who a role session acts as (an IAM role, or a sign-in's record of one)."""

    @property
    def role_id(self) -> str: ...


class UserIdentity(_Identity, Protocol):
    """Who a user's session token acts as."""

    @property
    def user_id(self) -> str: ...


class SessionOptions(TypedDict, total=False):
    """What a session may carry beyond who it acts as (see :class:`SessionClaims`)."""

    provider_arn: str | None
    source_identity: str | None
    session_tags: Mapping[str, str]
    transitive_tag_keys: tuple[str, ...]
    mfa: bool
    mfa_auth_time: int | None
    session_policy: str | None
    policy_arns: tuple[str, ...]
    federated: Mapping[str, Any]


def issue_role_credentials(
    runtime: Runtime,
    role: RoleIdentity,
    *,
    session_name: str,
    duration_seconds: int,
    auth_type: str,
    **options: Unpack[SessionOptions],
) -> TemporaryCredentials:
    session_arn = assumed_role_arn(role.account_id, role.name, session_name)
    principal = (role.account_id, role.arn, role.name, role.role_id)
    return _issue(runtime, principal, session_name, session_arn, duration_seconds, auth_type, options)


def issue_user_session_credentials(
    runtime: Runtime,
    user: UserIdentity,
    *,
    duration_seconds: int,
    mfa: bool = False,
    mfa_auth_time: int | None = None,
) -> TemporaryCredentials:
    """GetSessionToken: temporary credentials that act as the IAM user itself."""
    principal = (user.account_id, user.arn, user.name, user.user_id)
    options = SessionOptions(mfa=mfa, mfa_auth_time=mfa_auth_time)
    return _issue(runtime, principal, user.name, user.arn, duration_seconds, SESSION_TOKEN, options)


def issue_federated_user_credentials(
    runtime: Runtime,
    user: UserIdentity,
    *,
    name: str,
    duration_seconds: int,
    session_policy: str | None,
    policy_arns: tuple[str, ...],
    session_tags: Mapping[str, str],
) -> TemporaryCredentials:
    """GetFederationToken: a federated user named ``name``, issued by the IAM user ``user``."""
    principal = (user.account_id, user.arn, user.name, user.user_id)
    options = SessionOptions(session_policy=session_policy, policy_arns=policy_arns, session_tags=session_tags)
    session_arn = federated_user_arn(user.account_id, name)
    return _issue(runtime, principal, name, session_arn, duration_seconds, FEDERATION, options)


def _issue(
    runtime: Runtime,
    principal: tuple[str, str, str, str],
    session_name: str,
    session_arn: str,
    duration_seconds: int,
    auth_type: str,
    options: SessionOptions,
) -> TemporaryCredentials:
    """A new session of ``principal`` (account, ARN, name, unique id), from now, with fresh ids."""
    account_id, arn, name, unique_id = principal
    issued_at = int(runtime.now().timestamp())
    claims = SessionClaims(
        token_id=secrets.token_urlsafe(24),
        access_key_id=temporary_access_key_id(account_id),
        account_id=account_id,
        role_arn=arn,
        role_name=name,
        role_id=unique_id,
        session_name=session_name,
        assumed_role_arn=session_arn,
        issued_at=issued_at,
        expires_at=issued_at + duration_seconds,
        auth_type=auth_type,
        **options,
    )
    metrics.count_credentials(arn if auth_type != SESSION_TOKEN else None, auth_type)
    return _credentials(runtime, claims)


def _credentials(runtime: Runtime, claims: SessionClaims) -> TemporaryCredentials:
    token = encode_session_token(claims, runtime.keys.token_keys, runtime.settings.base_url)
    return TemporaryCredentials(
        access_key_id=claims.access_key_id,
        secret_access_key=derive_secret(runtime.keys.secret_derivation_key, claims.token_id),
        session_token=token,
        expiration=claims.expiration,
        assumed_role_arn=claims.assumed_role_arn,
        assumed_role_id=claims.user_id,
        claims=claims,
    )
