"""``POST /v1/decisions``: the decision API for services that accept the broker's credentials.

JSON in, JSON out; every refusal is ``{"error": {"code", "message", "requestId"}}`` with a 4xx
status. See docs/decision-api.md and docs/openapi/decision-api.yaml.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from broker.services import decisions
from broker.services.decisions import Answer, DecisionApiError, HttpRequest, Outcome
from broker.services.ratelimit import Throttled
from broker.web.protocol import client_info, raw_path, runtime, signed_headers

log = logging.getLogger("broker.decisions")
bp = Blueprint("decisions", __name__)

PATH = "/v1/decisions"


@bp.post(PATH)
def decide() -> Response:
    rt = runtime()
    client = client_info()
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        error = DecisionApiError("RequestTooLarge", "The request body is larger than this broker accepts.", 413)
        return _error(decisions.record_refusal(rt, client, error), client.request_id)
    http = HttpRequest(
        method=request.method,
        path=raw_path(),
        query_string=request.query_string.decode("latin-1"),
        headers=signed_headers(),
        body=body,
        secure=request.is_secure,
        client=client,
    )
    try:
        answer = decisions.answer(rt, http)
    except DecisionApiError as exc:
        return _error(exc, client.request_id)
    return _json(render(answer), 200, client.request_id)


@bp.route(PATH, methods=["GET", "PUT", "PATCH", "DELETE"])
def wrong_method() -> Response:
    client = client_info()
    error = DecisionApiError("MethodNotAllowed", f"{PATH} accepts POST only.", 405)
    response = _error(error, client.request_id)
    response.headers["Allow"] = "POST"
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    # Werkzeug's own refusals, in the API's shape rather than as an HTML page.
    code = (exc.name or "HttpError").replace(" ", "")
    error = DecisionApiError(code, exc.description or exc.name or code, exc.code or 400)
    return _error(error, client_info().request_id)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    # A bug must still answer in the API's shape, without a traceback.
    request_id = client_info().request_id
    log.exception("unhandled error in the decision API (request %s)", request_id)
    error = DecisionApiError("InternalFailure", "The broker could not complete this request.", 500)
    return _error(error, request_id)


def render(answer: Answer) -> dict[str, Any]:
    principal = {
        "arn": answer.caller.arn,
        "account": answer.caller.account_id,
        "userId": answer.caller.user_id,
        "type": decisions.principal_type(answer.caller),
    }
    if answer.batch:
        return {"principal": principal, "results": [_result(outcome) for outcome in answer.outcomes]}
    (outcome,) = answer.outcomes
    return _result(outcome, principal)


def _result(outcome: Outcome, principal: dict[str, str] | None = None) -> dict[str, Any]:
    decision = outcome.decision
    result: dict[str, Any] = {"decision": decision.effect.value, "allowed": decision.allowed}
    if principal is not None:
        result["principal"] = principal
    result.update(
        {
            "action": outcome.query.action,
            "resource": outcome.query.resource,
            "matchedStatements": [
                {
                    "policyId": matched.policy_id,
                    "sid": matched.sid,
                    "index": matched.index,
                    "effect": matched.effect.value,
                    "policyType": matched.policy_type.value,
                }
                for matched in decision.matched
            ],
            "missingContextKeys": list(decision.missing_context_keys),
            "reasons": list(decision.reasons),
        }
    )
    return result


def throttled(refusal: Throttled, request_id: str) -> Response:
    """A request over its address's rate limit (the app refuses it before this blueprint runs)."""
    return _error(decisions.throttled(refusal), request_id)


def _json(document: dict[str, Any], status: int, request_id: str) -> Response:
    response = Response(json.dumps(document), status=status, content_type="application/json")
    # A decision holds for this request only; no cache may answer the next one with it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Request-Id"] = request_id
    return response


def _error(error: DecisionApiError, request_id: str) -> Response:
    document = {"error": {"code": error.code, "message": error.message, "requestId": request_id}}
    response = _json(document, error.status, request_id)
    for challenge in error.challenges:
        response.headers.add("WWW-Authenticate", challenge)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response
