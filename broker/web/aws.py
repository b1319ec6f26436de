"""``POST /``: the AWS-compatible endpoint (Query protocol for STS and IAM, JSON protocol by ``X-Amz-Target``).

Each signed call is one transaction with its audit event; a refused call is audited in a
transaction of its own, after the refused one rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from broker.iam.errors import AwsError
from broker.services.audit import ANONYMOUS, Actor, record_event
from broker.services.auth import authenticate
from broker.services.federation import ClientInfo
from broker.web import actions as _actions  # noqa: F401  (registers every action)
from broker.web import cloudtrail
from broker.web.json_protocol import json_endpoint
from broker.web.protocol import ACTIONS, Action, Call, client_info, runtime, xml_response
from broker.web.wire import IAM_NS, Params, error_xml, success_xml

log = logging.getLogger("broker.aws")
bp = Blueprint("aws", __name__)
bp.register_blueprint(cloudtrail.bp)  # its JSON-protocol actions, and /.well-known/audit-keys.json


@bp.post("/")
def endpoint() -> Response:
    target = request.headers.get("X-Amz-Target")
    if target:
        return json_endpoint(target, _raw_path(), _headers())
    client = client_info()
    body = request.get_data(cache=True)
    # Query APIs accept parameters in the form body or, for GET and presigned URLs, the query.
    params = Params(request.values)
    name = params.get("Action")
    if not name:
        error = AwsError("MissingAction", "Missing Action")
        return xml_response(error_xml(error, IAM_NS, client.request_id), error.status)
    found = ACTIONS.get(name)
    if found is None:
        error = AwsError("InvalidAction", f"Could not find operation {name} for version {params.get('Version')}")
        return xml_response(error_xml(error, IAM_NS, client.request_id), error.status)
    if found.unsigned is not None:
        return found.unsigned(params, client)
    return _signed_call(found, params, client, body)


def _signed_call(found: Action, params: Params, client: ClientInfo, body: bytes) -> Response:
    rt = runtime()
    actor: Actor = ANONYMOUS
    resources: list[dict[str, str]] = []
    try:
        with rt.db.transaction() as session:
            caller, _signed = authenticate(
                rt, session, request.method, _raw_path(), request.query_string.decode(), _headers(), body
            )
            actor = caller.actor()
            call = Call(rt, session, caller, params, client, resources)
            assert found.handler is not None
            result = found.handler(call)
            _audit(session, found, actor, client, params, result, None, resources)
            return xml_response(success_xml(found.name, found.namespace, result, client.request_id))
    except AwsError as exc:
        if exc.code == "AccessDenied":
            log.info("denied %s for %s: %s", found.name, actor.arn, exc.message)
        with rt.db.transaction() as session:
            # A refusal that must leave a trace (a wrong MFA code counts toward throttling)
            # writes it here, with the audit event, after the refused call rolled back.
            persist = getattr(exc, "persist_after_rollback", None)
            if persist is not None:
                persist(session)
            _audit(session, found, actor, client, params, None, exc, resources)
        return xml_response(error_xml(exc, found.namespace, client.request_id), exc.status)


def _raw_path() -> str:
    """SigV4 signs the path as sent; werkzeug's request.path is already percent-decoded."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    return raw.split("?", 1)[0] if raw else request.path


def _headers() -> dict[str, str]:
    # A header sent more than once is signed as its values joined by commas.
    return {name: ",".join(request.headers.getlist(name)) for name in request.headers.keys()}  # noqa: SIM118


def _audit(
    session: Session,
    found: Action,
    actor: Actor,
    client: ClientInfo,
    params: Params,
    result: dict[str, Any] | None,
    error: AwsError | None,
    resources: list[dict[str, str]],
) -> None:
    rt = runtime()
    request_parameters = {k: v for k, v in params.as_dict().items() if k not in ("Action", "Version")}
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
        request_parameters=request_parameters,
        response_elements=None if found.read_only else _json_safe(result),
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        read_only=found.read_only,
        resources=resources or None,
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
