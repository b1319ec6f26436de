"""The authenticated principal of a request, and how the audit trail names it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from broker.crypto.box import DecryptionError, SecretBox
from broker.crypto.tokens import FEDERATION, SESSION_TOKEN, SessionClaims
from broker.iam import entities
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.iam.timestamps import aws_timestamp
from broker.policy import Principal
from broker.services.audit import Actor
from broker.services.cache import VersionedCache
from broker.store import Tx
from broker.store.auth import SigningKey
from broker.store.iam import principals

_MESSAGE_CONTEXT = "broker-authorization-message"


class AuthorizationMessages:
    """Encoded authorization failure messages: the why of a denial, sealed for the caller's account.

    Only principals allowed ``sts:DecodeAuthorizationMessage`` can read one, as in AWS, and only in
    the account of the principal that was denied: a message is sealed with that account's id as
    its associated data, so a principal of another account on the same broker (which may be one
    the denied person administers) cannot read the first account's principals, tags and resources.
    """

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def encode(self, payload: Mapping[str, Any], account_id: str) -> str:
        return self._box.seal(json.dumps(payload, separators=(",", ":"), default=str), _context(account_id))

    def decode(self, message: str, account_id: str) -> str:
        try:
            return self._box.open(message.strip(), _context(account_id))
        except (DecryptionError, ValueError):
            raise AwsError(
                "InvalidAuthorizationMessageException",
                "The authorization message is invalid or was not produced for this account.",
            ) from None


def _context(account_id: str) -> str:
    return f"{_MESSAGE_CONTEXT}|{account_id}"


@dataclass(frozen=True)
class Caller:
    """An authenticated principal: an IAM user (long-term key or session token) or a role session."""

    kind: Literal["user", "session"]
    arn: str
    account_id: str
    user_id: str
    access_key_id: str
    user_name: str | None = None
    claims: SessionClaims | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    messages: AuthorizationMessages | None = field(default=None, compare=False, repr=False)
    # What applies to this caller, read once per request (see applicable_policies).
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The process's versioned cache, when the caller was authenticated by a running broker:
    # what applies to the caller is then read from it while its generation stamp holds.
    cache: VersionedCache | None = field(default=None, compare=False, repr=False)

    @classmethod
    def signing_with(
        cls, key: SigningKey, messages: AuthorizationMessages | None, cache: VersionedCache | None = None
    ) -> Caller:
        """The IAM user whose long-term access key signed the request."""
        user = key.user
        tags = dict(user.tags)
        return cls(
            "user",
            user.arn,
            user.account_id,
            user.user_id,
            key.access_key_id,
            user.name,
            None,
            tags,
            messages,
            {},
            cache,
        )

    @property
    def is_session_token(self) -> bool:
        """Credentials of GetSessionToken: temporary, but the IAM user itself."""
        return self.claims is not None and self.claims.auth_type == SESSION_TOKEN

    @property
    def is_role_session(self) -> bool:
        """Temporary credentials that do not act as the IAM user itself: a role session, or a
        federated user (:attr:`is_federated_user`), which is bound by its session policies alike."""
        return self.claims is not None and not self.is_session_token

    @property
    def is_federated_user(self) -> bool:
        """Credentials of GetFederationToken: a federated user that an IAM user issued."""
        return self.claims is not None and self.claims.auth_type == FEDERATION

    @property
    def principal(self) -> Principal:
        if self.is_federated_user:
            return Principal(arn=self.arn, account=self.account_id, is_session=True)
        if self.is_role_session:
            assert self.claims is not None
            return Principal(arn=self.arn, account=self.account_id, role_arn=self.claims.role_arn, is_session=True)
        return Principal(arn=self.arn, account=self.account_id)

    @property
    def iam_user_name(self) -> str | None:
        if self.user_name:
            return self.user_name
        if self.is_session_token:
            assert self.claims is not None
            return self.claims.role_name
        return None

    def actor(self) -> Actor:
        # userIdentity: a session token acts as its IAM user; a role session as AssumedRole.
        common: dict[str, Any] = {
            "principal_id": self.user_id,
            "arn": self.arn,
            "account_id": self.account_id,
            "access_key_id": self.access_key_id,
        }
        claims = self.claims
        if claims is None:
            return Actor(type="IAMUser", user_name=self.user_name, **common)
        attributes = {
            "creationDate": aws_timestamp(dt.datetime.fromtimestamp(claims.issued_at, dt.UTC)),
            "mfaAuthenticated": str(claims.mfa).lower(),
        }
        if self.is_session_token:
            return Actor(
                type="IAMUser", user_name=self.iam_user_name, session_context={"attributes": attributes}, **common
            )
        if self.is_federated_user:
            issuer = {
                "type": "IAMUser",
                "principalId": claims.role_id,
                "arn": claims.role_arn,
                "accountId": claims.account_id,
                "userName": claims.role_name,
            }
            return Actor(
                type="FederatedUser", session_context={"sessionIssuer": issuer, "attributes": attributes}, **common
            )
        context: dict[str, Any] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": claims.role_id,
                "arn": claims.role_arn,
                "accountId": claims.account_id,
                "userName": claims.role_name,
            },
            "attributes": attributes,
        }
        if claims.source_identity:
            context["sourceIdentity"] = claims.source_identity
        return Actor(type="AssumedRole", session_context=context, **common)


def principal_tags(role_tags: Mapping[str, str] | None, session_tags: Mapping[str, str]) -> dict[str, str]:
    """A role session's principal tags: the role's tags, overridden by session tags (keys ignore case)."""
    overridden = {name_key(key) for key in session_tags}
    merged = {key: value for key, value in (role_tags or {}).items() if name_key(key) not in overridden}
    merged.update(session_tags)
    return merged


def caller_user(tx: Tx, caller: Caller) -> entities.User | None:
    """The IAM user behind the caller (long-term key or session token), if it still exists."""
    if caller.is_role_session:
        return None
    user = principals.user_with_id(tx, caller.user_id)
    if user is None or user.account_id != caller.account_id:
        return None
    return user
