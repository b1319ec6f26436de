"""Every AWS action the endpoint serves, Query and JSON protocols alike, in one registry.

Adding an action is one handler function plus its registration::

    @action("GetUser", "iam", read_only=True)
    def get_user(call: Call) -> dict[str, Any]: ...

The handler reads its parameters from ``call``, asks ``call.authorize`` for the policy
engine's permission, calls a use case and returns the result structure; the pipeline
(:mod:`broker.services.api.pipeline`) does the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from broker.iam.errors import AwsError
from broker.services.api.params import repeated_parameter

if TYPE_CHECKING:
    from broker.services.api.call import Call, UnsignedCall
    from broker.services.api.params import Params

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


# What an audit event names a request that reached no operation: the name it asked for when that
# is a plausible action name, else this.
UNROUTED_EVENT = "UnknownOperation"
_ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}")


@dataclass(frozen=True)
class Unrouted:
    """A request refused before it reached an operation (a Query request naming none, an unknown
    one or one parameter twice; an unknown ``X-Amz-Target``), as its audit event names it."""

    error: AwsError
    service: Service
    event_name: str


def query_operation(params: Params) -> Operation | Unrouted:
    """The operation a Query request names, or why it names none it can be routed to."""
    given = params.as_dict()  # first values: a repeated Action is still named by its first
    name = given.get("Action")
    operation = QUERY_ACTIONS.get(name) if name else None
    if operation is not None:
        service = operation.service
    else:
        service = SERVICES["sts"] if given.get("Version") == "2011-06-15" else SERVICES["iam"]
    event_name = name if name and _ACTION_NAME.fullmatch(name) else UNROUTED_EVENT
    repeated = params.repeated()
    if repeated is not None:
        return Unrouted(repeated_parameter(repeated), service, event_name)
    if not name:
        return Unrouted(AwsError("MissingAction", "Missing Action"), service, event_name)
    if operation is None:
        message = f"Could not find operation {name[:128]} for version {(params.get('Version') or '')[:64]}"
        return Unrouted(AwsError("InvalidAction", message), service, event_name)
    return operation


def json_operation(target: str) -> Operation | Unrouted:
    """The operation an ``X-Amz-Target`` names, or why it names none served here."""
    operation = JSON_ACTIONS.get(target)
    if operation is not None:
        return operation
    prefix, _, name = target.rpartition(".")
    service = next((s for s in SERVICES.values() if s.protocol == "json" and s.namespace == prefix), SERVICES["iam"])
    error = AwsError("UnknownOperationException", f"Operation {target[:200]} is not served by this endpoint.")
    return Unrouted(error, service, name if _ACTION_NAME.fullmatch(name) else UNROUTED_EVENT)
