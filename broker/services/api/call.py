"""What an action handler receives: the authenticated caller, its parameters, the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from broker.services.api.params import Params
from broker.services.audit import AuditScope, ClientInfo
from broker.services.auth import Caller, authorize, request_context
from broker.services.runtime import Runtime
from broker.store import Tx


@dataclass
class Call:
    runtime: Runtime
    tx: Tx
    caller: Caller
    params: Params
    # The JSON protocol's request body; empty on the Query protocol.
    body: Mapping[str, Any]
    client: ClientInfo
    secure: bool
    audit: AuditScope

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    def context(self) -> dict[str, Any]:
        """The request's global condition keys (``aws:SourceIp``, ``aws:PrincipalOrgID``...): a
        fresh copy of what is derived once per request, however often the handler authorizes."""
        return dict(self._request_context)

    @cached_property
    def _request_context(self) -> dict[str, Any]:
        return request_context(self.caller, self.client.source_ip, self.runtime.now(), self.secure, self.tx)

    def authorize(self, action: str, resource: str, extra_context: Mapping[str, Any] | None = None) -> None:
        """Raise ``AccessDenied`` unless the policy engine allows ``action`` on ``resource``."""
        self.audit.touch(resource)
        context = self.context()
        if extra_context:
            context.update(extra_context)
        authorize(self.tx, self.caller, action, resource, context)


@dataclass(frozen=True)
class UnsignedCall:
    runtime: Runtime
    params: Params
    client: ClientInfo
