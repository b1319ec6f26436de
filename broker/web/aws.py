"""``POST /``: the AWS-compatible endpoint, on the wire.

The request is read as SigV4 signed it and handed to the one API pipeline
(:mod:`broker.services.api.pipeline`); its outcome is rendered here, in the protocol the request
spoke: Query XML for ``Action=...`` forms, JSON for ``X-Amz-Target`` calls. This module is the one
place where AWS errors become bytes on the wire.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, Response, jsonify, request

from broker.iam.errors import AwsError
from broker.services import api
from broker.services.api import IAM_NS, Outcome, Params
from broker.services.api.registry import WireProtocol
from broker.services.auth import HttpRequest
from broker.web.protocol import client_info, raw_path, runtime, signed_headers
from broker.web.wire import JSON_CONTENT_TYPE, error_xml, json_error, json_success, success_xml

bp = Blueprint("aws", __name__)


@bp.post("/")
def endpoint() -> Response:
    rt = runtime()
    http = HttpRequest(
        method=request.method,
        path=raw_path(),
        # Clients percent-encode the query; raw bytes beyond ASCII (never signed) must not fail here.
        query_string=request.query_string.decode("latin-1"),
        headers=signed_headers(),
        body=request.get_data(cache=True),
        secure=request.is_secure,
        client=client_info(),
    )
    target = request.headers.get("X-Amz-Target")
    if target:
        return render(api.handle_json(rt, target, http), http.client.request_id)
    return render(api.handle_query(rt, Params(query_parameters()), http), http.client.request_id)


def query_parameters() -> list[tuple[str, str]]:
    """A Query call's parameters: the query string's (GET, presigned URLs), then the form body's.

    The query string is read here rather than through ``request.args``, which fails on bytes that
    are not UTF-8; such bytes become U+FFFD, and the signature check then refuses the request.
    """
    query = request.query_string.decode("utf-8", "replace")
    pairs = parse_qsl(query, keep_blank_values=True, errors="replace")
    if request.method == "POST":
        pairs += [(name, value) for name, values in request.form.lists() for value in values]
    return pairs


def render(outcome: Outcome, request_id: str) -> Response:
    if outcome.operation is not None:  # for the access log
        request.environ["broker.action"] = outcome.operation.name
    request.environ["broker.principal"] = outcome.principal
    request.environ["broker.error_code"] = outcome.error.code if outcome.error is not None else None  # metrics
    if outcome.error is not None:
        refused = render_error(outcome.protocol, outcome.error, request_id, outcome.operation)
        if outcome.retry_after is not None:  # a throttled caller
            refused.headers["Retry-After"] = str(outcome.retry_after)
        return refused
    if outcome.protocol == "json":
        response = Response(json_success(outcome.result), content_type=JSON_CONTENT_TYPE)
        response.headers["x-amzn-RequestId"] = request_id
        return response
    assert outcome.operation is not None
    service = outcome.operation.service
    return _xml(success_xml(outcome.operation.name, service.namespace, outcome.result, request_id), 200)


def render_error(
    protocol: WireProtocol, error: AwsError, request_id: str, operation: api.Operation | None = None
) -> Response:
    """An AWS error as the protocol carries it: ``ErrorResponse`` XML, or JSON with ``__type``."""
    if protocol == "json":
        response = Response(json_error(error), status=error.status, content_type=JSON_CONTENT_TYPE)
        response.headers["x-amzn-ErrorType"] = error.code
        response.headers["x-amzn-RequestId"] = request_id
        return response
    namespace = operation.service.namespace if operation is not None else IAM_NS
    return _xml(error_xml(error, namespace, request_id), error.status)


def request_protocol() -> WireProtocol:
    """The protocol of the request being answered (for errors raised outside the pipeline)."""
    return "json" if request.headers.get("X-Amz-Target") else "query"


def _xml(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/xml")


@bp.get("/.well-known/audit-keys.json")
def audit_keys() -> Response:
    """The public keys digests are signed with (current and retired), as a JWKS."""
    response = jsonify(runtime().keys.audit_keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
