"""Device user codes (RFC 8628 6.1) and loopback redirect URIs (RFC 8252 7.3), as the broker checks them."""

from __future__ import annotations

import math

import pytest

from broker.services.cli_auth import (
    USER_CODE_ALPHABET,
    display_user_code,
    is_loopback_redirect_uri,
    new_user_code,
    normalise_user_code,
)


def test_user_codes_are_eight_base20_consonants_shown_in_two_halves() -> None:
    assert len(set(USER_CODE_ALPHABET)) == 20 and not set(USER_CODE_ALPHABET) & set("AEIOUY")
    codes = {new_user_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and set(c) <= set(USER_CODE_ALPHABET) for c in codes)
    assert math.log2(len(USER_CODE_ALPHABET) ** 8) > 34
    assert display_user_code("WDJBMJHT") == "WDJB-MJHT"


@pytest.mark.parametrize("typed", ["WDJB-MJHT", "wdjb-mjht", "WDJBMJHT", " wdjb mjht ", "WDJB--MJHT"])
def test_what_people_type_is_normalised(typed: str) -> None:
    assert normalise_user_code(typed) == "WDJBMJHT"


@pytest.mark.parametrize("typed", ["", "WDJB-MJH", "WDJB-MJHTX", "WDJA-MJHT", "WDJB-MJH1", "WDJB_MJHT"])
def test_impossible_codes_are_refused(typed: str) -> None:
    assert normalise_user_code(typed) is None


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
