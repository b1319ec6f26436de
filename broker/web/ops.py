"""GET /metrics: the Prometheus text exposition, for the monitoring system only.

Who may scrape: with ``metrics_token`` set, a caller presenting it as ``Authorization: Bearer``
(from any address); without one, a caller on a loopback or private address (as the broker sees
it: behind a reverse proxy, set ``trusted_proxy_hops``, or every client looks like the proxy).
Anyone else gets the same 404 as a path that does not exist. Not rate-limited, not audited.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from flask import Blueprint, Response, abort, request

from broker.iam.constant_time import same_secret
from broker.services import metrics
from broker.services.federation.metadata_refresh import metadata_status
from broker.web.protocol import runtime

bp = Blueprint("ops", __name__)


# Where a scraper on the operator's own network sits: RFC 1918 and IPv6 unique local addresses.
# (ipaddress's is_private also counts documentation and other reserved ranges; they are not ours.)
PRIVATE_NETWORKS: Final = tuple(
    ipaddress.ip_network(network) for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def internal_address(address: str | None) -> bool:
    """Whether ``address`` is loopback or private (IPv4-mapped IPv6 judged as its IPv4)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or any(ip.version == net.version and ip in net for net in PRIVATE_NETWORKS)


def _may_scrape() -> bool:
    token = runtime().settings.metrics_token
    if not token:
        return internal_address(request.remote_addr)
    scheme, _, presented = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(token, presented.strip())


@bp.get("/metrics")
def scrape() -> Response:
    if not _may_scrape():
        abort(404)
    body = metrics.exposition() + metrics.metadata_exposition(_metadata_states())
    response = Response(body, content_type=metrics.CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def _metadata_states() -> list[metrics.MetadataGauge]:
    rt = runtime()
    now = rt.now()
    return [
        metrics.MetadataGauge(
            provider_arn=status.arn,
            age_seconds=(now - status.last_fetch_at).total_seconds() if status.last_fetch_at else -1.0,
            failing=status.failing,
            expired=status.expired,
        )
        for status in metadata_status(rt)
    ]
