"""One audit scope per request: who called, from where, what they asked, what it touched.

A request fills its scope in as it goes (the actor once authenticated, the resources as they
are authorized) and records it once, with the outcome. A request that changed state records it
in its own transaction (:meth:`AuditScope.record`), so the change and its event commit together.
A request that changed nothing (a read, a decision, a refusal after its transaction rolled back)
submits it to the group-commit writer (:meth:`AuditScope.submit`), which returns once the event
is durable, without a write transaction of the request's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.errors import BrokerError
from broker.services.audit._record import ANONYMOUS, Actor, PreparedEvent, build_event, hold_prepared
from broker.services.audit.writer import AuditWriter
from broker.store import Tx


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, and the id it is answered and audited under."""

    source_ip: str | None
    user_agent: str | None
    request_id: str


@dataclass
class AuditScope:
    event_name: str
    event_source: str
    client: ClientInfo
    region: str
    actor: Actor = ANONYMOUS
    read_only: bool = False
    event_type: str = "AwsApiCall"
    request_parameters: Mapping[str, Any] | None = None
    recipient_account_id: str | None = None
    resources: list[dict[str, str]] = field(default_factory=list)
    additional: Mapping[str, Any] | None = None
    # A CloudTrail data event (a decision): in the trail and its exports, not in LookupEvents.
    data_event: bool = False

    def touch(self, arn: str) -> None:
        """Name a resource the request acts on (CloudTrail's ``resources``); ``*`` names none."""
        entry = {"ARN": arn}
        if arn != "*" and entry not in self.resources:
            self.resources.append(entry)

    def record(
        self,
        session: Tx,
        now: dt.datetime,
        *,
        response: Mapping[str, Any] | None = None,
        error: BrokerError | None = None,
    ) -> str:
        """Hold the event in ``session``, written as it commits (with the request's changes); its id."""
        return hold_prepared(session, self.event(now, response=response, error=error))

    def submit(
        self,
        writer: AuditWriter,
        now: dt.datetime,
        *,
        response: Mapping[str, Any] | None = None,
        error: BrokerError | None = None,
    ) -> str:
        """Write the event with the writer's next batch; its id once durable.

        Raises :class:`broker.services.audit.writer.AuditWriteFailed` if it could not be written.
        Call it after the request's transaction has ended (see :meth:`AuditWriter.submit`).
        """
        return writer.submit(self.event(now, response=response, error=error))

    def event(
        self,
        now: dt.datetime,
        *,
        response: Mapping[str, Any] | None = None,
        error: BrokerError | None = None,
    ) -> PreparedEvent:
        """The finished record, as of ``now``, with the outcome: a response or an error."""
        return build_event(
            event_name=self.event_name,
            event_source=self.event_source,
            actor=self.actor,
            now=now,
            region=self.region,
            source_ip=self.client.source_ip,
            user_agent=self.client.user_agent,
            request_id=self.client.request_id,
            request_parameters=self.request_parameters,
            response_elements=response,
            error_code=error.code if error else None,
            error_message=error.audit_message if error else None,
            read_only=self.read_only,
            event_type=self.event_type,
            recipient_account_id=self.recipient_account_id,
            resources=self.resources or None,
            additional=self.additional,
            data_event=self.data_event,
        )
