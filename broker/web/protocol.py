"""The registry of AWS Query actions and what a handler receives.

A handler is a few lines: read parameters, authorize, call a service, return the result
structure (rendered as XML by the endpoint). Handlers live in ``broker.web.actions``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request
from sqlalchemy.orm import Session

from broker.services.auth import Caller, authorize, request_context
from broker.services.federation import ClientInfo
from broker.services.runtime import Runtime
from broker.web.wire import IAM_NS, STS_NS, Params


@dataclass
class Call:
    runtime: Runtime
    session: Session
    caller: Caller
    params: Params
    client: ClientInfo
    resources: list[dict[str, str]]

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    def authorize(self, action: str, resource: str, extra_context: dict[str, Any] | None = None) -> None:
        self.resources.append({"ARN": resource})
        context = request_context(
            self.caller, self.client.source_ip, self.runtime.now(), request.is_secure, self.session
        )
        if extra_context:
            context.update(extra_context)
        authorize(self.session, self.caller, action, resource, context)


Handler = Callable[[Call], dict[str, Any] | None]
UnsignedHandler = Callable[[Params, ClientInfo], Response]


@dataclass(frozen=True)
class Action:
    name: str
    namespace: str
    event_source: str
    handler: Handler | None = None
    read_only: bool = False
    # Actions AWS serves without a signature (AssumeRoleWithSAML) handle the request themselves.
    unsigned: UnsignedHandler | None = None


ACTIONS: dict[str, Action] = {}
_SERVICES = {"sts": (STS_NS, "sts.amazonaws.com"), "iam": (IAM_NS, "iam.amazonaws.com")}


def action(name: str, service: str, read_only: bool = False) -> Callable[[Handler], Handler]:
    namespace, source = _SERVICES[service]

    def register(handler: Handler) -> Handler:
        ACTIONS[name] = Action(name, namespace, source, handler, read_only)
        return handler

    return register


def unsigned_action(name: str, service: str) -> Callable[[UnsignedHandler], UnsignedHandler]:
    namespace, source = _SERVICES[service]

    def register(handler: UnsignedHandler) -> UnsignedHandler:
        ACTIONS[name] = Action(name, namespace, source, unsigned=handler)
        return handler

    return register


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["broker.runtime"]
    return rt


def client_info() -> ClientInfo:
    return ClientInfo(
        source_ip=request.remote_addr, user_agent=request.headers.get("User-Agent"), request_id=str(uuid.uuid4())
    )


def xml_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml")
