"""Events the `broker` command records: the operator's own changes and reads, as ``broker-cli``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.services.audit._record import Actor
from broker.services.audit.scope import AuditScope, ClientInfo
from broker.services.runtime import Runtime
from broker.store import Tx

CLI_ACTOR = Actor(type="Root", principal_id="broker-cli", user_name="broker-cli")


def record_operator_event(
    runtime: Runtime,
    tx: Tx,
    event_name: str,
    parameters: Mapping[str, Any],
    *,
    event_source: str,
    request_id: str,
    read_only: bool = False,
    additional: Mapping[str, Any] | None = None,
) -> None:
    """Audit what the `broker` command did (an ``AwsServiceEvent`` by :data:`CLI_ACTOR`), in ``tx``."""
    AuditScope(
        event_name=event_name,
        event_source=event_source,
        client=ClientInfo(source_ip=None, user_agent="broker-cli", request_id=request_id),
        region=runtime.settings.region,
        actor=CLI_ACTOR,
        read_only=read_only,
        event_type="AwsServiceEvent",
        request_parameters=parameters,
        recipient_account_id=runtime.settings.default_account_id,
        additional=additional,
    ).record(tx, runtime.now())
