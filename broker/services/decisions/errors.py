"""The decision API's refusals: ``{"error": {"code", "message"}}`` with an HTTP status."""

from __future__ import annotations

import json
from typing import NoReturn

from broker.errors import BrokerError


class DecisionApiError(BrokerError):
    """A refused decision request; ``challenges`` are the ``WWW-Authenticate`` values of a 401."""

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
