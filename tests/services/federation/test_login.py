"""Which return addresses (RelayState) a sign-in follows: paths on this site only."""

from __future__ import annotations

import pytest

from broker.services.federation import is_local_path

BASE = "https://broker.example"


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("/cli/authorize?request=abc", True),
        (f"{BASE}/saml/roles", True),
        ("https://evil.example/", False),
        (f"{BASE}.evil.example/", False),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("/path\r\nSet-Cookie: x", False),
        ("relative/path", False),
        ("", False),
    ],
)
def test_only_paths_on_this_site_are_followed(target: str, followed: bool) -> None:
    assert is_local_path(target, BASE) is followed
