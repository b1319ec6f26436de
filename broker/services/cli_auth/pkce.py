"""Proof Key for Code Exchange (RFC 7636), S256 only."""

from __future__ import annotations

import base64
import hashlib
import re

from broker.iam.constant_time import same_secret

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def is_code_challenge(text: str) -> bool:
    """An S256 challenge: 43 base64url characters (256 bits, no padding)."""
    return bool(_CHALLENGE.match(text))


def is_code_verifier(text: str) -> bool:
    """RFC 7636 section 4.1: 43 to 128 unreserved characters."""
    return bool(_VERIFIER.match(text))


def s256_challenge(code_verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_matches(code_verifier: str, code_challenge: str) -> bool:
    """Constant-time comparison of the verifier's S256 challenge with the stored one."""
    if not is_code_verifier(code_verifier):
        return False
    return same_secret(s256_challenge(code_verifier), code_challenge)
