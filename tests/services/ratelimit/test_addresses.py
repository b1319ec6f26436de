"""Which client an address counts as for the per-address limits (rate limits, connections)."""

from __future__ import annotations

import pytest

from broker.services.ratelimit.addresses import ClientConnections, client_key


@pytest.mark.parametrize(
    ("address", "prefix", "key"),
    [
        ("198.51.100.7", 64, "198.51.100.7"),
        # An IPv4 client on a dual-stack socket is the IPv4 address it is.
        ("::ffff:198.51.100.7", 64, "198.51.100.7"),
        ("::FFFF:c633:6407", 64, "198.51.100.7"),
        # Every address of an IPv6 client's /64 is one client...
        ("2001:db8:1:2::10", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "2001:db8:1:2::/64"),
        ("2001:0DB8:0001:0002:0000:0000:0000:0010", 64, "2001:db8:1:2::/64"),
        # ...the zone of a link-local address is no part of it...
        ("fe80::1%eth0", 64, "fe80::/64"),
        # ...and the prefix length is the operator's.
        ("2001:db8:1:2::10", 48, "2001:db8:1::/48"),
        ("2001:db8:1:2::10", 56, "2001:db8:1::/56"),
        ("2001:db8:1:2::10", 128, "2001:db8:1:2::10/128"),
        ("::1", 64, "::/64"),
        # No address, no key (the limiter admits); a peer that is no IP address is its own key.
        (None, 64, None),
        ("", 64, None),
        ("unix-socket-peer", 64, "unix-socket-peer"),
        ("x" * 300, 64, "x" * 64),
    ],
)
def test_client_key(address: str | None, prefix: int, key: str | None) -> None:
    assert client_key(address, prefix) == key


def test_the_default_prefix_is_a_64() -> None:
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"


def test_connections_are_capped_per_client_not_per_address() -> None:
    connections = ClientConnections(2)
    first = connections.open("2001:db8:1:2::1")
    second = connections.open("2001:db8:1:2:aaaa::2")
    assert first is not None and second is not None
    # A third address of the same /64 is the same client, over its cap.
    assert connections.open("2001:db8:1:2:bbbb::3") is None
    assert connections.open("2001:db8:1:3::1") is not None  # another /64 is another client
    first()
    assert connections.open("2001:db8:1:2:cccc::4") is not None


def test_an_ipv4_client_counts_once_however_the_socket_presents_it() -> None:
    connections = ClientConnections(1)
    release = connections.open("198.51.100.7")
    assert release is not None
    assert connections.open("::ffff:198.51.100.7") is None
    release()
    assert connections.open("::ffff:198.51.100.7") is not None
    assert connections.open("198.51.100.7") is None


def test_no_cap_refuses_nothing_and_forgets_closed_clients() -> None:
    connections = ClientConnections(0)
    releases = [connections.open(f"2001:db8::{n:x}") for n in range(200)]
    assert all(release is not None for release in releases)
    for release in releases:
        assert release is not None
        release()
    assert not connections.open_by_client
