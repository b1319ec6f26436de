"""Audit events in CloudTrail's record shape, written in the caller's transaction.

A state change and its event commit together or not at all. Secrets never enter a record:
callers pass parameters through :func:`redact` and SAML assertions as (ID, issuer, digest).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from broker.store.models import AuditEvent

EVENT_VERSION = "1.08"
_SECRET_KEYS = {
    "secretaccesskey",
    "sessiontoken",
    "samlassertion",
    "samlresponse",
    "password",
    "base32stringseed",
    "qrcodepng",
    "authenticationcode1",
    "authenticationcode2",
    "tokencode",
    "code_verifier",
    "code",
    "privatekey",
}


def redact(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Drop secret-bearing fields (recursively) from request or response elements."""
    result: dict[str, Any] = {}
    for key, value in parameters.items():
        if key.lower() in _SECRET_KEYS:
            continue
        if isinstance(value, Mapping):
            result[key] = redact(value)
        else:
            result[key] = value
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


def record_event(
    session: Session,
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
) -> AuditEvent:
    event_id = str(uuid.uuid4())
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": actor.to_record(),
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
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
        "managementEvent": True,
        "recipientAccountId": recipient_account_id or actor.account_id,
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = (error_message or "")[:1024]
    if resources:
        record["resources"] = resources
    if additional:
        record["additionalEventData"] = dict(additional)
    event = AuditEvent(
        event_id=event_id,
        event_time=now,
        event_source=event_source,
        event_name=event_name,
        username=actor.user_name or actor.arn,
        access_key_id=actor.access_key_id,
        error_code=error_code,
        read_only=read_only,
        record=record,
    )
    session.add(event)
    return event
