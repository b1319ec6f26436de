"""Refusals of the SSO-OIDC and portal APIs, as AWS answers them.

Each AWS error type is a class carrying its wire code (``x-amzn-ErrorType``), its HTTP status and,
for SSO-OIDC, the OAuth ``error`` field; a refusal is raised anywhere below the web layer and
rendered in one place (:mod:`broker.web.sso_routes`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from broker.errors import BrokerError


class OidcError(BrokerError):
    """An SSO-OIDC error: body ``{error, error_description, message}``."""

    oauth: ClassVar[str] = "invalid_request"
    # Set once the refusal's event was recorded with the transaction that also changed state.
    audited: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"error": self.oauth, "error_description": self.message, "message": self.message}


class InvalidRequest(OidcError):
    code = "InvalidRequestException"
    oauth = "invalid_request"


class InvalidClient(OidcError):
    code = "InvalidClientException"
    status = 401
    oauth = "invalid_client"


class InvalidClientMetadata(OidcError):
    code = "InvalidClientMetadataException"
    oauth = "invalid_client_metadata"


class InvalidRedirectUri(OidcError):
    code = "InvalidRedirectUriException"
    oauth = "invalid_redirect_uri"


class InvalidGrant(OidcError):
    code = "InvalidGrantException"
    oauth = "invalid_grant"


class UnsupportedGrantType(OidcError):
    code = "UnsupportedGrantTypeException"
    oauth = "unsupported_grant_type"


class UnauthorizedClient(OidcError):
    code = "UnauthorizedClientException"
    oauth = "unauthorized_client"


class AuthorizationPending(OidcError):
    code = "AuthorizationPendingException"
    oauth = "authorization_pending"


class SlowDown(OidcError):
    code = "SlowDownException"
    oauth = "slow_down"


class ExpiredToken(OidcError):
    code = "ExpiredTokenException"
    oauth = "expired_token"


class AccessDenied(OidcError):
    code = "AccessDeniedException"
    oauth = "access_denied"


class PortalError(BrokerError):
    """An SSO portal error: body ``{message}``."""

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message}


class Unauthorized(PortalError):
    code = "UnauthorizedException"
    status = 401


class InvalidPortalRequest(PortalError):
    code = "InvalidRequestException"


class ResourceNotFound(PortalError):
    code = "ResourceNotFoundException"
    status = 404


class TooManyRequests(PortalError):
    code = "TooManyRequestsException"
    status = 429


class PageRefused(BrokerError):
    """A browser step (/authorize, the device page) refused as a page: no redirect to trust (yet)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.status = status
        super().__init__(message)
