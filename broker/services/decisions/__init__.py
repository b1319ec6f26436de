"""Decisions for services that accept the broker's credentials (``POST /v1/decisions``).

A service asks "may this caller do ``action`` on ``resource`` in this context?" and gets the
policy engine's :class:`~broker.policy.Decision` with its reasons. The caller is the principal
the request authenticates (:mod:`.authentication`): a SigV4 signature over the decision request
itself, or the caller's session token as ``Authorization: Bearer``. The body is read strictly
(:mod:`.queries`); :mod:`.answer` decides and audits. Each call, answered or refused, is one
audit event.
"""

from broker.services.auth import HttpRequest
from broker.services.decisions.answer import (
    EVENT_NAME,
    EVENT_SOURCE,
    Answer,
    Outcome,
    answer,
    decide,
    principal_type,
    record_refusal,
)
from broker.services.decisions.authentication import SIGV4_SERVICE
from broker.services.decisions.errors import DecisionApiError, throttled
from broker.services.decisions.queries import MAX_BATCH, PROTECTED_CONTEXT_KEYS, DecisionQuery, read_queries

__all__ = [
    "EVENT_NAME",
    "EVENT_SOURCE",
    "MAX_BATCH",
    "PROTECTED_CONTEXT_KEYS",
    "SIGV4_SERVICE",
    "Answer",
    "DecisionApiError",
    "DecisionQuery",
    "HttpRequest",
    "Outcome",
    "answer",
    "decide",
    "principal_type",
    "read_queries",
    "record_refusal",
    "throttled",
]
