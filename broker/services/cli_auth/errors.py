"""Refusals of the CLI sign-in, by where they are answered.

- :class:`OAuthError`: an RFC 6749 / RFC 8628 error, answered as JSON by the token, device and
  revocation endpoints.
- :class:`AuthorizeRefused`: shown in the browser as a page, when there is no redirect URI to
  trust (yet) or the person is on the broker's own device-approval page.
- :class:`AuthorizeRedirect`: an OAuth error sent back to the CLI's loopback listener as ``error=``.

Each carries its code, HTTP status and message as data; the codes are closed sets (``Literal``),
so a misspelt one is a type error rather than a new code on the wire.
"""

from __future__ import annotations

from typing import Literal

from broker.errors import BrokerError
from broker.services.cli_auth.loopback import with_query

# RFC 6749 section 5.2 and RFC 8628 section 3.5.
OAuthCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "invalid_scope",
    "access_denied",
    "unsupported_grant_type",
    "unsupported_response_type",
    "temporarily_unavailable",
    "authorization_pending",
    "slow_down",
    "expired_token",
]

RefusalCode = Literal[
    "InvalidRequest",
    "UnknownClient",
    "InvalidRedirectUri",
    "UnknownAuthorization",
    "ExpiredAuthorization",
    "NoSession",
    "BadCsrf",
    "UnknownUserCode",
    "MalformedUserCode",
    "ExpiredUserCode",
    "UsedUserCode",
    "LockedUserCode",
    "TooManyUserCodeAttempts",
    "RoleNotPermitted",
]


class OAuthError(BrokerError):
    """An RFC 6749 error: ``code`` is the registered code, ``message`` one sentence for a person."""

    def __init__(self, code: OAuthCode, message: str, status: int = 400) -> None:
        self.code = code
        self.status = status
        super().__init__(message)

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.message}


class AuthorizeRefused(BrokerError):
    """A /cli/authorize or device-approval problem shown in the browser: no redirect_uri to trust (yet).

    ``audit_detail`` is what the trail records besides the message (the person sees only the message:
    a wrong user code is told apart from an expired one in the trail, never on the page)."""

    def __init__(self, code: RefusalCode, message: str, status: int = 400, *, audit_detail: str | None = None) -> None:
        self.code = code
        self.status = status
        self.audit_detail = audit_detail
        super().__init__(message)

    @property
    def audit_message(self) -> str:
        return f"{self.message} ({self.audit_detail})" if self.audit_detail else self.message


class AuthorizeRedirect(BrokerError):
    """A /cli/authorize problem sent back to the CLI's loopback listener as ``error=``."""

    status = 303

    def __init__(self, redirect_uri: str, state: str | None, error: OAuthCode, message: str) -> None:
        self.code = error
        super().__init__(message)
        self.redirect_uri = redirect_uri
        self.state = state

    def location(self) -> str:
        params = {"error": self.code, "error_description": self.message}
        if self.state:
            params["state"] = self.state
        return with_query(self.redirect_uri, params)
