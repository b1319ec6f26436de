"""One pipeline for every AWS-protocol request, Query and JSON alike.

parse -> authenticate (SigV4 or session token) -> throttle (the caller's rate limit) -> authorize
(the handler asks the policy engine) -> run the action -> audit -> an :class:`Outcome` the web
layer renders in the request's protocol. A throttled call is audited once per caller and interval
(the event counts the refusals since), the others only counted.

A call that changes state commits with its audit event in one transaction. A read-only call runs
in a read transaction (no write lock) and hands its event to the process's group-commit writer,
as a refused call does once it rolled back, unless the refusal must leave something behind (a
failed MFA attempt that counts toward throttling): that commits with its event. A call whose event
cannot be recorded is answered ServiceUnavailable, never as if it had been.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.iam.errors import AccessDenied, AccessDeniedException, AwsError
from broker.services.api import actions as _actions  # noqa: F401  (registers every action)
from broker.services.api.call import Call, UnsignedCall
from broker.services.api.params import Params, read_json_body
from broker.services.api.registry import Operation, Unrouted, WireProtocol, json_operation, query_operation
from broker.services.api.shapes import json_safe
from broker.services.audit import AuditScope, AuditWriteFailed, camel_keys, query_parameters
from broker.services.auth import AccountClosed, Bookkeeping, Caller, HttpRequest, authenticate, write_bookkeeping
from broker.services.ratelimit import Throttled
from broker.services.runtime import Runtime
from broker.store import Tx

log = logging.getLogger("broker.aws")


@dataclass(frozen=True)
class Outcome:
    """What the web layer renders: the action's result, or the error, in ``protocol``."""

    protocol: WireProtocol
    operation: Operation | None
    result: Mapping[str, Any] | None = None
    error: AwsError | None = None
    # Seconds a throttled caller should wait (``Retry-After``).
    retry_after: int | None = None
    # The authenticated caller's ARN, for the access log (None before or without authentication).
    principal: str | None = None


def handle_query(runtime: Runtime, params: Params, request: HttpRequest) -> Outcome:
    """A Query-protocol call: ``Action`` names the operation."""
    # CloudTrail's names (userName, tags: [{key, value}]), not the Query protocol's.
    audited = query_parameters((k, v) for k, v in params.as_dict().items() if k not in ("Action", "Version"))
    operation = query_operation(params)
    if isinstance(operation, Unrouted):
        return _unrouted(runtime, "query", operation, request, audited)
    if operation.unsigned is not None:
        return _unsigned(runtime, operation, params, request)
    return _signed(runtime, operation, request, params, None, audited)


def handle_json(runtime: Runtime, target: str, request: HttpRequest) -> Outcome:
    """A JSON-protocol call: ``X-Amz-Target`` names the operation."""
    operation = json_operation(target)
    if isinstance(operation, Unrouted):
        return _unrouted(runtime, "json", operation, request, None)
    return _signed(runtime, operation, request, Params(), request.body, {})


def _unrouted(
    runtime: Runtime,
    protocol: WireProtocol,
    unrouted: Unrouted,
    request: HttpRequest,
    audited: Mapping[str, Any] | None,
) -> Outcome:
    """A request that reaches no operation is refused before authentication, and recorded so."""
    audit = AuditScope(
        event_name=unrouted.event_name,
        event_source=unrouted.service.event_source,
        client=request.client,
        region=runtime.settings.region,
        request_parameters=audited,
    )
    try:
        audit.submit(runtime.audit_writer, runtime.now(), error=unrouted.error)
    except AuditWriteFailed as failed:
        log.error("audit write failed for a refused request: %s", failed.__cause__ or failed)
        return Outcome(protocol, None, error=AwsError("ServiceUnavailable", failed.message))
    return Outcome(protocol, None, error=unrouted.error)


def _signed(
    runtime: Runtime,
    operation: Operation,
    request: HttpRequest,
    params: Params,
    json_body: bytes | None,
    audited: Mapping[str, Any] | None,
) -> Outcome:
    protocol = operation.service.protocol
    audit = AuditScope(
        event_name=operation.name,
        event_source=operation.service.event_source,
        client=request.client,
        region=runtime.settings.region,
        read_only=operation.read_only,
        request_parameters=audited,
    )
    bookkeeping: list[Bookkeeping] = []
    try:
        if operation.read_only:
            # A read takes no write lock; its event and any bookkeeping are written after it.
            with runtime.db.read() as tx:
                caller = _authenticated(runtime, tx, operation, request, audit, bookkeeping)
                _admit(runtime, caller)
                result = _act(runtime, tx, caller, operation, request, params, json_body, audit)
            _record_apart(runtime, audit, bookkeeping)
            return Outcome(protocol, operation, principal=audit.actor.arn, result=result)
        # A write authenticates and is charged to its caller's budget before its transaction:
        # the charge commits on its own connection, which on SQLite must not wait for the write
        # lock the transaction holds (held the shorter for it).
        with runtime.db.read() as tx:
            caller = _authenticated(runtime, tx, operation, request, audit, bookkeeping)
        _admit(runtime, caller)
        with runtime.db.transaction() as tx:
            result = _act(runtime, tx, caller, operation, request, params, json_body, audit)
            for write in bookkeeping:
                write(tx)
            audit.record(tx, runtime.now(), response=_response_elements(result))
            return Outcome(protocol, operation, principal=audit.actor.arn, result=result)
    except AuditWriteFailed as exc:
        return _unrecorded(protocol, operation, exc)
    except AwsError as exc:
        retry_after = None
        if isinstance(exc, Throttled):  # the caller's budget, or an MFA device's
            retry_after = exc.retry_after_seconds
            if not exc.audited:  # counted in its bucket; the key's first refusal of the interval was audited
                write_bookkeeping(runtime, bookkeeping)
                return Outcome(protocol, operation, principal=audit.actor.arn, error=exc, retry_after=retry_after)
            audit.additional = {**(audit.additional or {}), **exc.audit_details}
        error = exc.for_json_protocol() if protocol == "json" else exc
        if isinstance(error, AccessDenied | AccessDeniedException):
            log.info("denied %s for %s: %s", operation.name, audit.actor.arn, error.message)
        try:
            _record_refusal(runtime, audit, error, exc, bookkeeping)
        except AuditWriteFailed as failed:
            return _unrecorded(protocol, operation, failed)
        return Outcome(protocol, operation, principal=audit.actor.arn, error=error, retry_after=retry_after)


def _unrecorded(protocol: WireProtocol, operation: Operation, failed: AuditWriteFailed) -> Outcome:
    """Answered only once recorded: the trail could not take the event, so the call fails (503)."""
    log.error("audit write failed for %s: %s", operation.name, failed.__cause__ or failed)
    return Outcome(protocol, operation, error=AwsError("ServiceUnavailable", failed.message))


def _authenticated(
    runtime: Runtime,
    tx: Tx,
    operation: Operation,
    request: HttpRequest,
    audit: AuditScope,
    bookkeeping: list[Bookkeeping],
) -> Caller:
    """The caller whose signature the request carries, named in the audit scope."""
    # The credential scope must name the service called; its signing name is its event source's
    # first label (iam.amazonaws.com: iam).
    try:
        caller, _signed_request = authenticate(
            runtime,
            tx,
            request.method,
            request.path,
            request.query_string,
            request.headers,
            request.body,
            bookkeeping,
            service=operation.service.event_source.partition(".")[0],
        )
    except AccountClosed as exc:
        exc.noted_in(audit)  # the refusal's event names who was refused, and why
        raise
    audit.actor = caller.actor()
    return caller


def _admit(runtime: Runtime, caller: Caller) -> None:
    """Charge the call to its caller's budget (its address's was charged on arrival)."""
    runtime.rate_limiter.enforce("aws-principal", caller.arn)


def _act(
    runtime: Runtime,
    tx: Tx,
    caller: Caller,
    operation: Operation,
    request: HttpRequest,
    params: Params,
    json_body: bytes | None,
    audit: AuditScope,
) -> Mapping[str, Any] | None:
    """Run the action's handler (which authorizes) in ``tx``."""
    body: Mapping[str, Any] = {}
    if json_body is not None:
        body = read_json_body(json_body)
        audit.request_parameters = camel_keys(body)
    call = Call(runtime, tx, caller, params, body, request.client, request.secure, audit)
    assert operation.handler is not None
    return operation.handler(call)


def _response_elements(result: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """What a call answered, in CloudTrail's names (``{"user": {"userName": ...}}``)."""
    if result is None:
        return None
    elements: Mapping[str, Any] = camel_keys(json_safe(result))
    return elements


def _record_apart(runtime: Runtime, audit: AuditScope, bookkeeping: list[Bookkeeping]) -> None:
    """The event of an answered read (CloudTrail records no response for a read) goes to the
    group-commit writer; bookkeeping the read left (a key's last use, hourly) gets a transaction."""
    write_bookkeeping(runtime, bookkeeping)
    audit.submit(runtime.audit_writer, runtime.now())


def _record_refusal(
    runtime: Runtime, audit: AuditScope, error: AwsError, raised: AwsError, bookkeeping: list[Bookkeeping]
) -> None:
    """A refused call rolled back: what the refusal must leave behind (a failed MFA attempt, a
    key's last use) commits with its event in a transaction of its own; a plain refusal's event
    goes to the group-commit writer."""
    if raised.leaves_state or bookkeeping:
        with runtime.db.transaction() as tx:
            raised.after_rollback(tx)
            for write in bookkeeping:
                write(tx)
            audit.record(tx, runtime.now(), error=error)
    else:
        audit.submit(runtime.audit_writer, runtime.now(), error=error)


def _unsigned(runtime: Runtime, operation: Operation, params: Params, request: HttpRequest) -> Outcome:
    assert operation.unsigned is not None
    try:
        result = operation.unsigned(UnsignedCall(runtime, params, request.client))
    except AwsError as exc:
        return Outcome("query", operation, error=exc)
    return Outcome("query", operation, result=result)
