"""The per-address buckets, as the web layer applies them before any route runs."""

from __future__ import annotations

import logging
from typing import Final

from broker.services.audit import AuditScope, AuditWriteFailed, ClientInfo
from broker.services.ratelimit.addresses import client_key
from broker.services.ratelimit.limiter import Throttled
from broker.services.runtime import Runtime

log = logging.getLogger("broker.ratelimit")

EVENT_SOURCE: Final = "ratelimit.broker"
EVENT_NAME: Final = "RequestThrottled"
# Which request reaches which bucket, by the Flask endpoint's blueprint (``None``: no limit).
ADDRESS_BUCKETS: Final = ("saml", "cli", "aws", "decisions")


def admit_client(runtime: Runtime, bucket: str, client: ClientInfo, method: str, path: str) -> Throttled | None:
    """Charge the request to its client address's bucket (an IPv6 client's network: see
    :func:`.addresses.client_key`); the refusal to answer with, if over.

    The first refusal of an address in each audit interval is audited (``RequestThrottled``,
    with the count of refusals since the previous one); the rest are only counted.
    """
    verdict = runtime.rate_limiter.check(bucket, client_key(client.source_ip, runtime.settings.rate_limit_ipv6_prefix))
    if verdict.admitted:
        return None
    refusal = Throttled(verdict)
    if refusal.audited:
        scope = AuditScope(
            event_name=EVENT_NAME,
            event_source=EVENT_SOURCE,
            client=client,
            region=runtime.settings.region,
            read_only=True,
            request_parameters={"bucket": bucket, "limitedBy": "clientAddress", "httpMethod": method, "path": path},
            additional=refusal.audit_details,
        )
        try:
            scope.submit(runtime.audit_writer, runtime.now(), error=refusal)
        except AuditWriteFailed:
            # Refused all the same: answering 503 instead would tell a flood nothing new.
            log.error("could not audit a throttled request from %s to %s", client.source_ip, path)
    return refusal
