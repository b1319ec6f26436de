"""Every AWS action the endpoint serves, Query and JSON protocols alike, in one registry.

Adding an action is one handler function plus its registration::

    @action("GetUser", "iam", read_only=True)
    def get_user(call: Call) -> dict[str, Any]: ...

The handler reads its parameters from ``call``, asks ``call.authorize`` for the policy
engine's permission, calls a use case and returns the result structure; the pipeline
(:mod:`broker.services.api.pipeline`) does the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from broker.services.api.call import Call, UnsignedCall

WireProtocol = Literal["query", "json"]
Result = Mapping[str, Any] | None
Handler = Callable[["Call"], Result]
UnsignedHandler = Callable[["UnsignedCall"], Result]

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


@dataclass(frozen=True)
class Service:
    event_source: str
    protocol: WireProtocol
    # Query protocol: the XML namespace of responses; JSON protocol: the X-Amz-Target prefix.
    namespace: str


SERVICES: Mapping[str, Service] = {
    "sts": Service("sts.amazonaws.com", "query", STS_NS),
    "iam": Service("iam.amazonaws.com", "query", IAM_NS),
    "organizations": Service("organizations.amazonaws.com", "json", "AWSOrganizationsV20161128"),
    "cloudtrail": Service("cloudtrail.amazonaws.com", "json", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"),
}


@dataclass(frozen=True)
class Operation:
    name: str
    service: Service
    handler: Handler | None = None
    read_only: bool = False
    # Actions AWS serves without a signature (AssumeRoleWithSAML) authenticate by their own means.
    unsigned: UnsignedHandler | None = None

    @property
    def target(self) -> str:
        return f"{self.service.namespace}.{self.name}"


QUERY_ACTIONS: dict[str, Operation] = {}
JSON_ACTIONS: dict[str, Operation] = {}


def _register(operation: Operation) -> None:
    if operation.service.protocol == "query":
        QUERY_ACTIONS[operation.name] = operation
    else:
        JSON_ACTIONS[operation.target] = operation


def action(name: str, service: str, read_only: bool = False) -> Callable[[Handler], Handler]:
    """Register a signed action: SigV4-authenticated, audited, answered in ``service``'s protocol."""

    def register(handler: Handler) -> Handler:
        _register(Operation(name, SERVICES[service], handler, read_only))
        return handler

    return register


def unsigned_action(name: str, service: str) -> Callable[[UnsignedHandler], UnsignedHandler]:
    """Register an action AWS serves unsigned; it audits itself (it knows who signed in)."""

    def register(handler: UnsignedHandler) -> UnsignedHandler:
        _register(Operation(name, SERVICES[service], unsigned=handler))
        return handler

    return register
