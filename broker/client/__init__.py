"""A small client for services that accept the broker's credentials.

It verifies session tokens locally against the broker's JWKS (cached, refreshed on key
rotation) and asks the decision API whether a caller may do something::

    broker = BrokerClient("https://broker.example.com")
    session = broker.verify_session_token(token)          # no network call while keys are cached
    result = broker.decide("s3:GetObject", "arn:aws:s3:::reports/q3.pdf", {"aws:SourceIp": ip},
                           bearer_token=token)
    if not result.allowed: ...                             # result.reasons says why

Dependencies: the standard library, PyJWT and cryptography; botocore only to sign with
credentials (``credentials=``). Nothing here imports Flask, SQLAlchemy or pysaml2.
"""

from broker.client.client import BrokerClient, CredentialsLike, DecisionQuery
from broker.client.errors import (
    BrokerClientError,
    DecisionRequestError,
    ExpiredTokenError,
    InvalidTokenError,
    JwksError,
    SigningUnavailableError,
    TransportError,
)
from broker.client.models import DecisionResult, MatchedStatement, Principal, VerifiedSession

__all__ = [
    "BrokerClient",
    "BrokerClientError",
    "CredentialsLike",
    "DecisionQuery",
    "DecisionRequestError",
    "DecisionResult",
    "ExpiredTokenError",
    "InvalidTokenError",
    "JwksError",
    "MatchedStatement",
    "Principal",
    "SigningUnavailableError",
    "TransportError",
    "VerifiedSession",
]
