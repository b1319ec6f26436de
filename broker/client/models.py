"""Values the client returns: a verified session, and a decision with its reasons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VerifiedSession:
    """The claims of a session token whose signature, issuer, audience and times verified."""

    assumed_role_arn: str
    account_id: str
    role_arn: str
    role_name: str
    role_id: str
    session_name: str
    access_key_id: str
    token_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    auth_type: str  # "saml" for federated sign-ins
    key_id: str  # the JWKS key that signed the token
    provider_arn: str | None = None
    source_identity: str | None = None
    session_tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    mfa: bool = False
    mfa_authenticated_at: dt.datetime | None = None
    saml_context: Mapping[str, Any] = field(default_factory=dict)  # the saml:* keys of the sign-in

    @property
    def user_id(self) -> str:
        """``aws:userid`` of the session: ``ROLE-ID:SESSION-NAME``."""
        return f"{self.role_id}:{self.session_name}"


@dataclass(frozen=True)
class Principal:
    """Whose permissions were decided: ``type`` is ``IAMUser`` or ``AssumedRole``."""

    arn: str
    account: str
    user_id: str
    type: str


@dataclass(frozen=True)
class MatchedStatement:
    policy_id: str
    sid: str | None
    index: int
    effect: str  # "Allow" | "Deny"
    policy_type: str  # "identity" | "resource" | "boundary" | "session" | "scp"


@dataclass(frozen=True)
class DecisionResult:
    decision: str  # "Allow" | "ExplicitDeny" | "ImplicitDeny"
    allowed: bool
    action: str
    resource: str
    principal: Principal
    matched_statements: tuple[MatchedStatement, ...]
    missing_context_keys: tuple[str, ...]
    reasons: tuple[str, ...]
