"""RFC 6238 time-based one-time passwords as authenticator apps compute them (30 s, 6 digits, SHA-1).

Pure functions: the caller passes the time, so tests use the RFC's vectors and the service
its clock.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

from broker.iam.constant_time import same_secret

STEP_SECONDS = 30
DIGITS = 6
SEED_BYTES = 40  # AWS's Base32StringSeed is 64 characters: 40 random bytes


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def base32_seed(seed: bytes) -> str:
    return base64.b32encode(seed).decode("ascii").rstrip("=")


def seed_from_base32(text: str) -> bytes:
    cleaned = text.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def time_step(unix_time: float, step: int = STEP_SECONDS) -> int:
    return int(unix_time // step)


def hotp(seed: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226 HOTP with dynamic truncation."""
    mac = hmac.new(seed, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp(seed: bytes, unix_time: float, digits: int = DIGITS, digest: str = "sha1") -> str:
    return hotp(seed, time_step(unix_time), digits, digest)


def matching_step(seed: bytes, code: str, step: int, drift: int = 1) -> int | None:
    """The time step within ``drift`` steps of ``step`` whose code is ``code`` (latest first), or None."""
    for candidate in range(step + drift, step - drift - 1, -1):
        if same_secret(hotp(seed, candidate), code):
            return candidate
    return None


def matching_pair(seed: bytes, first: str, second: str, step: int, window: int = 2) -> int | None:
    """The step of ``second`` when ``first`` and ``second`` are consecutive codes whose steps lie
    within ``window`` steps of ``step`` (a pair just typed ends at ``step``)."""
    for candidate in range(step + window, step - window, -1):
        if same_secret(hotp(seed, candidate - 1), first) and same_secret(hotp(seed, candidate), second):
            return candidate
    return None


def otpauth_uri(seed: bytes, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI authenticator apps scan."""
    label = quote(f"{issuer}:{account_name}", safe=":@")
    query = urlencode({"secret": base32_seed(seed), "issuer": issuer}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"
