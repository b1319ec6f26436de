"""The AWS-compatible API: every IAM, STS, Organizations and CloudTrail action, and the one
pipeline they all run through (:mod:`.pipeline`). The web layer only parses and renders the wire."""

from broker.services.api.params import Params
from broker.services.api.pipeline import Outcome, handle_json, handle_query
from broker.services.api.registry import IAM_NS, JSON_ACTIONS, QUERY_ACTIONS, STS_NS, Operation
from broker.services.api.shapes import XmlMap

__all__ = [
    "IAM_NS",
    "JSON_ACTIONS",
    "QUERY_ACTIONS",
    "STS_NS",
    "Operation",
    "Outcome",
    "Params",
    "XmlMap",
    "handle_json",
    "handle_query",
]
