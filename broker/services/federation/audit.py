"""The audit scope of each sign-in step: ConsoleLogin, ConsoleLogout and the browser's AssumeRoleWithSAML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.services.audit import Actor, AuditScope, ClientInfo
from broker.settings import Settings

SIGNIN_SOURCE = "signin.amazonaws.com"
STS_SOURCE = "sts.amazonaws.com"
_CONSOLE_EVENTS = ("ConsoleLogin", "ConsoleLogout")


def sign_in_scope(
    settings: Settings,
    event_name: str,
    actor: Actor,
    client: ClientInfo,
    *,
    event_source: str = SIGNIN_SOURCE,
    request_parameters: Mapping[str, Any] | None = None,
    recipient: str | None = None,
    additional: Mapping[str, Any] | None = None,
) -> AuditScope:
    return AuditScope(
        event_name=event_name,
        event_source=event_source,
        client=client,
        region=settings.region,
        actor=actor,
        event_type="AwsConsoleSignIn" if event_name in _CONSOLE_EVENTS else "AwsApiCall",
        request_parameters=request_parameters,
        recipient_account_id=recipient or settings.default_account_id,
        additional=additional,
    )
