"""Comparing secrets without leaking where they differ, whatever text a caller sends."""

from __future__ import annotations

import hmac


def same_secret(expected: str | bytes, given: str | bytes) -> bool:
    """``hmac.compare_digest`` on the UTF-8 bytes of both: compare_digest refuses ``str`` holding
    anything but ASCII with a TypeError, which a caller's text must never turn into a 500.
    Lone surrogates (which JSON can carry) are encoded as they are, never an error."""
    left = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else expected
    right = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else given
    return hmac.compare_digest(left, right)
