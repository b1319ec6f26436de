"""Loopback redirect URIs (RFC 8252 7.3), as the broker checks them."""

from __future__ import annotations

import pytest

from broker.services.cli_auth.loopback import is_loopback_redirect_uri


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("http://127.0.0.1:8400/callback", True),
        ("http://127.0.0.1/callback", True),
        ("http://[::1]:8400/", True),
        ("http://localhost:8400/cb?x=1", True),
        ("https://127.0.0.1:8400/callback", False),
        ("http://127.0.0.2:8400/callback", False),
        ("http://127.0.0.1.nip.io/callback", False),
        ("http://user@127.0.0.1/callback", False),
        ("http://127.0.0.1:8400/callback#x", False),
        ("http://127.0.0.1:8400/call back", False),
        ("http://127.0.0.1:8400\\@evil.example/", False),
        ("http://127.0.0.1:0x50/", False),
        ("http://localhost.evil.example/", False),
        ("http://127.0.0.1:8400/" + "a" * 600, False),
    ],
)
def test_only_loopback_http_redirect_uris(uri: str, allowed: bool) -> None:
    assert is_loopback_redirect_uri(uri) is allowed
