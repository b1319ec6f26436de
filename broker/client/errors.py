"""What the client raises. Every error is a :class:`BrokerClientError`; no message carries a token."""

from __future__ import annotations


class BrokerClientError(Exception):
    """Base class of the client's errors."""


class InvalidTokenError(BrokerClientError):
    """The session token does not verify: malformed, forged, wrong issuer or audience, unknown key."""


class ExpiredTokenError(InvalidTokenError):
    """The session token verified, but its session has ended."""


class JwksError(BrokerClientError):
    """The broker's JWKS could not be fetched or read, and no keys were cached to fall back on."""


class TransportError(BrokerClientError):
    """The broker could not be reached, or answered with something that is not the API's shape."""


class SigningUnavailableError(BrokerClientError):
    """Signing with credentials needs botocore, which is not installed."""


class DecisionRequestError(BrokerClientError):
    """The broker refused the decision request (``{"error": {"code", "message"}}``)."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
