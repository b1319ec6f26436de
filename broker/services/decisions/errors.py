"""The decision API's refusals: ``{"error": {"code", "message"}}`` with an HTTP status."""

from __future__ import annotations

import json
from typing import NoReturn

from broker.errors import BrokerError
from broker.services.auth import AccountClosed
from broker.services.ratelimit import Throttled


class DecisionApiError(BrokerError):
    """A refused decision request; ``challenges`` are the ``WWW-Authenticate`` values of a 401."""

    # Seconds the caller should wait (``Retry-After``), for a refusal over a rate limit.
    retry_after: int | None = None
    # Whether the refusal gets an audit event of its own (a throttled request may only be counted).
    audited: bool = True
    # Credentials refused because their account is closed: what the refusal's event records of it.
    account_closed: AccountClosed | None = None

    def __init__(self, code: str, message: str, status: int, challenges: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.challenges = challenges

    def __repr__(self) -> str:
        return f"DecisionApiError({self.code!r}, {self.message!r}, {self.status})"


def invalid(message: str) -> NoReturn:
    """Refuse a request whose body is JSON but not a valid decision request."""
    raise DecisionApiError("ValidationError", message, 400)


def malformed(message: str) -> DecisionApiError:
    """A request whose body is not a JSON object at all."""
    return DecisionApiError("MalformedRequest", message, 400)


def shown(value: str, limit: int = 128) -> str:
    """A caller-supplied string as messages quote it: shortened, control characters escaped."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return json.dumps(text)


def throttled(refusal: Throttled) -> DecisionApiError:
    """A caller over its rate limit: 429 with ``Retry-After``, in the API's shape."""
    error = DecisionApiError(refusal.code, refusal.message, 429)
    error.retry_after = refusal.retry_after_seconds
    error.audited = refusal.audited
    return error
