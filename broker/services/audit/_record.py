"""Audit events in CloudTrail's record shape: built once, then held in a transaction or submitted.

:func:`build_event` makes the record; it is then written one of two ways. :func:`record_event`
holds it in the caller's transaction, so a state change and its event commit together or not at
all. An event without a state change (a read, a decision, a refusal) goes to the group-commit
writer instead (:mod:`broker.services.audit.writer`), which writes many in one transaction.
Either way the event gets its place in the hash chain as its transaction commits
(:mod:`broker.services.audit.chain`), so chain order is commit order. Secrets never enter a
record: callers pass parameters through :func:`redact` and SAML assertions as (ID, issuer, digest).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.iam.timestamps import aws_timestamp
from broker.services.audit.chain import indexed_columns, resource_rows
from broker.store import Tx
from broker.store.audit.chain import NewEvent, hold_event

EVENT_VERSION = "1.08"
_SECRET_KEYS = {
    "secretaccesskey",
    "sessiontoken",
    "samlassertion",
    "samlresponse",
    "password",
    "oldpassword",
    "newpassword",
    "base32stringseed",
    "qrcodepng",
    "authenticationcode1",
    "authenticationcode2",
    "tokencode",
    "code_verifier",
    "code",
    "privatekey",
}
# Request parameters that name the resource of a call made outside the AWS endpoint's
# authorization step (the sign-in flow, AssumeRoleWithSAML): CloudTrail lists them as resources.
_RESOURCE_PARAMETERS = ("roleArn", "principalArn")


# Deeper than this, a value is not recorded (request bodies are depth-limited well before it).
_MAX_REDACT_DEPTH = 64
TOO_DEEP = "(nested too deep to record)"


def _secret_name(key: object) -> bool:
    """A secret-bearing field: by name, or a Query-protocol member (``Tags.member.1.Password``)
    any of whose named parts is one."""
    if not isinstance(key, str):
        return False
    return any(part in _SECRET_KEYS for part in key.lower().split("."))


def _redacted(value: Any, depth: int) -> Any:
    if depth > _MAX_REDACT_DEPTH:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {key: _redacted(item, depth + 1) for key, item in value.items() if not _secret_name(key)}
    if isinstance(value, list | tuple):
        return [_redacted(item, depth + 1) for item in value]
    return value


def redact(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Drop secret-bearing fields from request or response elements, at any depth: in nested
    objects, in lists of them and lists of lists, and Query members named like ``X.member.1.Y``."""
    result: dict[str, Any] = _redacted(parameters, 0)
    return result


@dataclass(frozen=True)
class Actor:
    """``userIdentity`` of a CloudTrail record."""

    type: str  # IAMUser | AssumedRole | SAMLUser | Root | Unknown
    principal_id: str | None = None
    arn: str | None = None
    account_id: str | None = None
    access_key_id: str | None = None
    user_name: str | None = None
    session_context: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"type": self.type}
        for key, value in (
            ("principalId", self.principal_id),
            ("arn", self.arn),
            ("accountId", self.account_id),
            ("accessKeyId", self.access_key_id),
            ("userName", self.user_name),
        ):
            if value:
                record[key] = value
        if self.session_context:
            record["sessionContext"] = dict(self.session_context)
        record.update(self.extra)
        return record


ANONYMOUS = Actor(type="Unknown")


def _derived_resources(request_parameters: Mapping[str, Any] | None) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for key in _RESOURCE_PARAMETERS:
        value = (request_parameters or {}).get(key)
        if isinstance(value, str) and value.startswith("arn:") and {"ARN": value} not in found:
            found.append({"ARN": value})
    return found


@dataclass(frozen=True)
class PreparedEvent:
    """A finished record, ready to be held in a transaction or submitted to the writer."""

    event_id: str
    event_time: dt.datetime
    record: dict[str, Any]


def build_event(
    *,
    event_name: str,
    event_source: str,
    actor: Actor,
    now: dt.datetime,
    region: str,
    source_ip: str | None,
    user_agent: str | None,
    request_id: str,
    request_parameters: Mapping[str, Any] | None = None,
    response_elements: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    read_only: bool = False,
    event_type: str = "AwsApiCall",
    recipient_account_id: str | None = None,
    resources: list[dict[str, str]] | None = None,
    additional: Mapping[str, Any] | None = None,
    data_event: bool = False,
) -> PreparedEvent:
    """A CloudTrail-shaped record, redacted and reduced to plain JSON values.

    ``data_event`` marks one of CloudTrail's data events (``eventCategory`` ``Data``, such as a
    decision), which LookupEvents does not list; every other event is a management event.
    """
    event_id = str(uuid.uuid4())
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": actor.to_record(),
        "eventTime": aws_timestamp(now),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": (user_agent or "")[:1024],
        "requestParameters": redact(request_parameters) if request_parameters is not None else None,
        "responseElements": redact(response_elements) if response_elements is not None else None,
        "requestID": request_id,
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": event_type,
        "managementEvent": not data_event,
        "eventCategory": "Data" if data_event else "Management",
        "recipientAccountId": recipient_account_id or actor.account_id,
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = (error_message or "")[:1024]
    resources = resources or _derived_resources(request_parameters)
    if resources:
        record["resources"] = resources
    if additional:
        record["additionalEventData"] = dict(additional)
    # What is hashed is what the database gives back: plain JSON values only (NaN and the
    # infinities, which JSON cannot carry, become strings).
    record = json.loads(json.dumps(record, default=str), parse_constant=str)
    return PreparedEvent(event_id, now, record)


def to_append(event: PreparedEvent) -> NewEvent:
    """``event`` as the store appends it: the record with its indexed columns and resources."""
    return NewEvent(event.event_time, event.record, indexed_columns(event.record), resource_rows(event.record))


def hold_prepared(tx: Tx, event: PreparedEvent) -> str:
    """Hold ``event`` in ``tx``, written and chained as ``tx`` commits; its id."""
    # Written at commit, after the transaction's other changes: see broker.store.audit.chain.
    return hold_event(tx, to_append(event))


def record_event(
    tx: Tx,
    *,
    event_name: str,
    event_source: str,
    actor: Actor,
    now: dt.datetime,
    region: str,
    source_ip: str | None,
    user_agent: str | None,
    request_id: str,
    request_parameters: Mapping[str, Any] | None = None,
    response_elements: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    read_only: bool = False,
    event_type: str = "AwsApiCall",
    recipient_account_id: str | None = None,
    resources: list[dict[str, str]] | None = None,
    additional: Mapping[str, Any] | None = None,
    data_event: bool = False,
) -> str:
    """Hold a CloudTrail-shaped event in ``tx``, written and chained as ``tx`` commits; its id."""
    return hold_prepared(
        tx,
        build_event(
            event_name=event_name,
            event_source=event_source,
            actor=actor,
            now=now,
            region=region,
            source_ip=source_ip,
            user_agent=user_agent,
            request_id=request_id,
            request_parameters=request_parameters,
            response_elements=response_elements,
            error_code=error_code,
            error_message=error_message,
            read_only=read_only,
            event_type=event_type,
            recipient_account_id=recipient_account_id,
            resources=resources,
            additional=additional,
            data_event=data_event,
        ),
    )
