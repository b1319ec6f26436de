"""ES256 signatures of compact JWS tokens in their one canonical form.

An ECDSA signature ``(r, s)`` has a twin ``(r, n - s)`` that verifies just as well, and the
base64url text of a 64-byte signature has four spare bits in its last character. Either way,
anyone holding a token could write a second token text, with the same claims, that verifies:
a malleable token defeats whatever keys on the token's text (the broker remembers verified
tokens by their SHA-256). The broker therefore writes every signature low-S (``s <= n/2``, as
libsecp256k1 and BIP 62 do) in its exact base64url spelling, and refuses every other spelling
before checking the signature itself.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

# The order n of the P-256 group (SEC 2, secp256r1).
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
HALF_ORDER: Final = P256_ORDER // 2
# An ES256 JWS signature is r || s, each 32 bytes big-endian (RFC 7518, section 3.4).
SIGNATURE_BYTES: Final = 64
_SCALAR_BYTES: Final = 32


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature_of(token: str) -> bytes | None:
    """The raw signature of a compact JWS, or None unless its segment is the exact base64url
    (no padding, no stray characters, no spare bits set) of 64 bytes."""
    segment = token.rpartition(".")[2]
    if not segment.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != SIGNATURE_BYTES or _b64url(raw) != segment:
        return None
    return raw


def is_low_s(signature: bytes) -> bool:
    """Whether a raw ``r || s`` signature has ``0 < s <= n/2``."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    s = int.from_bytes(signature[_SCALAR_BYTES:], "big")
    return 0 < s <= HALF_ORDER


def has_canonical_signature(token: str) -> bool:
    """Whether a compact JWS carries an ES256 signature in the one form the broker writes:
    low-S, spelled in exact unpadded base64url. Says nothing of whether the signature verifies."""
    raw = _signature_of(token)
    return raw is not None and is_low_s(raw)


def canonical_token(token: str) -> str:
    """The token with its ES256 signature brought to low-S (``s -> n - s``); the same token when
    it already is. For tokens the broker has just signed: the twin verifies as the original does."""
    head, dot, _ = token.rpartition(".")
    raw = _signature_of(token)
    if not dot or raw is None:
        raise ValueError("not a compact JWS with an ES256 signature")
    s = int.from_bytes(raw[_SCALAR_BYTES:], "big")
    if s <= HALF_ORDER:
        return token
    low = (P256_ORDER - s).to_bytes(_SCALAR_BYTES, "big")
    return f"{head}.{_b64url(raw[:_SCALAR_BYTES] + low)}"
