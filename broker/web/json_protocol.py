"""The AWS JSON protocol on ``POST /``: ``X-Amz-Target`` + ``application/x-amz-json-1.1``.

Each call is SigV4-authenticated, authorized by its handler through the policy engine, and
audited like a Query call: one transaction with its event, or, when refused, the refusal
audited in a transaction of its own. Errors are ``{"__type": code, "message": ...}`` with
``x-amzn-ErrorType``, the shape botocore reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, request
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from broker.iam.errors import JSON_PROTOCOL_CODES, AwsError
from broker.services.audit import ANONYMOUS, Actor, record_event
from broker.services.auth import authenticate
from broker.services.federation import ClientInfo
from broker.web.protocol import Call, client_info, runtime
from broker.web.wire import Params

log = logging.getLogger("broker.aws")
CONTENT_TYPE = "application/x-amz-json-1.1"

JsonHandler = Callable[[Call, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class JsonAction:
    target: str
    name: str
    event_source: str
    handler: JsonHandler
    read_only: bool = False


JSON_ACTIONS: dict[str, JsonAction] = {}


def json_action(
    target_prefix: str, name: str, event_source: str, read_only: bool = False
) -> Callable[[JsonHandler], JsonHandler]:
    """Register ``handler(call, body) -> result`` for ``X-Amz-Target: {target_prefix}.{name}``."""

    def register(handler: JsonHandler) -> JsonHandler:
        target = f"{target_prefix}.{name}"
        JSON_ACTIONS[target] = JsonAction(target, name, event_source, handler, read_only)
        return handler

    return register


def json_error(error: AwsError, request_id: str) -> Response:
    fields = {"__type": error.code, "message": error.message}
    if error.reason:
        fields["Reason"] = error.reason
    body = json.dumps(fields)
    response = Response(body, status=error.status, content_type=CONTENT_TYPE)
    response.headers["x-amzn-ErrorType"] = error.code
    response.headers["x-amzn-RequestId"] = request_id
    return response


def _json_result(result: Mapping[str, Any], request_id: str) -> Response:
    response = Response(json.dumps(result, separators=(",", ":")), content_type=CONTENT_TYPE)
    response.headers["x-amzn-RequestId"] = request_id
    return response


def as_json_error(error: AwsError) -> AwsError:
    """The same error under the JSON protocol's name for it."""
    code = JSON_PROTOCOL_CODES.get(error.code)
    return AwsError(code, error.message, reason=error.reason) if code else error


def _body(raw: bytes) -> Mapping[str, Any]:
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AwsError("SerializationException", "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.")
    return parsed


def json_endpoint(target: str, raw_path: str, headers: Mapping[str, str]) -> Response:
    client = client_info()
    found = JSON_ACTIONS.get(target)
    if found is None:
        error = AwsError("UnknownOperationException", f"Operation {target[:200]} is not served by this endpoint.")
        return json_error(error, client.request_id)
    rt = runtime()
    raw = request.get_data(cache=True)
    actor: Actor = ANONYMOUS
    resources: list[dict[str, str]] = []
    body: Mapping[str, Any] = {}
    try:
        with rt.db.transaction() as session:
            caller, _signed = authenticate(
                rt, session, request.method, raw_path, request.query_string.decode(), headers, raw
            )
            actor = caller.actor()
            body = _body(raw)
            call = Call(rt, session, caller, Params(MultiDict()), client, resources)
            result = found.handler(call, body)
            _audit(session, found, actor, client, body, result, None, resources)
            return _json_result(result, client.request_id)
    except AwsError as exc:
        error = as_json_error(exc)
        if error.code == "AccessDeniedException":
            log.info("denied %s for %s: %s", found.name, actor.arn, error.message)
        with rt.db.transaction() as session:
            _audit(session, found, actor, client, body, None, error, resources)
        return json_error(error, client.request_id)


def _audit(
    session: Session,
    found: JsonAction,
    actor: Actor,
    client: ClientInfo,
    body: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    error: AwsError | None,
    resources: list[dict[str, str]],
) -> None:
    rt = runtime()
    record_event(
        session,
        event_name=found.name,
        event_source=found.event_source,
        actor=actor,
        now=rt.now(),
        region=rt.settings.region,
        source_ip=client.source_ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
        request_parameters=dict(body),
        response_elements=None if found.read_only else result,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        read_only=found.read_only,
        resources=[r for r in resources if r.get("ARN") != "*"] or None,
    )
