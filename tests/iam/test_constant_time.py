"""Secrets compare in constant time whatever text a caller sends (compare_digest raises on non-ASCII str)."""

from __future__ import annotations

import hmac

import pytest

from broker.iam.constant_time import same_secret


@pytest.mark.parametrize("given", ["é", "²", "\ud800", "a\x00b", "", "x" * 10_000])
def test_any_text_compares_without_raising(given: str) -> None:
    with pytest.raises(TypeError):
        hmac.compare_digest("csrf-token", "é")  # what the broker used to call
    assert same_secret("csrf-token", given) is False


def test_equal_and_different() -> None:
    assert same_secret("a1b2", "a1b2")
    assert same_secret("é", "é") and same_secret(b"\xff", b"\xff")
    assert not same_secret("a1b2", "a1b3")
    assert not same_secret("a1b2", "a1b2 ")
