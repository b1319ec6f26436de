"""Which client a per-address limit charges: the one function every per-address limit keys on.

An IPv6 client is handed a whole network (a /64 at least, often a /56 or /48) and can send each
request from a fresh address in it; keyed on the full address, every request would find a new,
full bucket and leave a row behind. So an IPv6 address counts as its network, by default its
/64 (``rate_limit_ipv6_prefix``). An IPv4 client on a dual-stack socket arrives as IPv4-mapped
IPv6 (``::ffff:192.0.2.7``) and counts as the IPv4 address it is.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Final

DEFAULT_IPV6_PREFIX: Final = 64  # settings.rate_limit_ipv6_prefix's default


def client_key(address: str | None, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str | None:
    """The key a client address is limited by: IPv4 as itself (IPv4-mapped IPv6 included), IPv6 as
    its ``/ipv6_prefix`` network (``2001:db8:1:2::/64``). ``None`` for no address; something that
    is not an IP address (a Unix socket's peer) is its own key."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # no zone: fe80::1%eth0 is fe80::1
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)


class ClientConnections:
    """Open connections per client, as :func:`client_key` counts clients, capped at ``most``
    (0: no cap). One worker's event loop calls it; nothing here is shared between threads."""

    def __init__(self, most: int, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> None:
        self.most = most
        self.ipv6_prefix = ipv6_prefix
        self.open_by_client: Counter[str] = Counter()

    def open(self, address: str) -> Callable[[], None] | None:
        """Count a new connection from ``address``: the function to call once it closes, or
        ``None`` when its client already holds ``most`` (refuse it)."""
        key = client_key(address, self.ipv6_prefix) or ""
        if self.most and self.open_by_client[key] >= self.most:
            return None
        self.open_by_client[key] += 1
        return partial(self._release, key)

    def _release(self, key: str) -> None:
        self.open_by_client[key] -= 1
        if self.open_by_client[key] <= 0:
            del self.open_by_client[key]
