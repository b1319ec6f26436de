"""Device user codes (RFC 8628 section 6.1): what a person reads in the terminal and types in a browser."""

from __future__ import annotations

import re
import secrets

# Base-20 consonants, 8 characters (about 34.5 bits), shown as XXXX-XXXX.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalise_user_code(text: str) -> str | None:
    """What a person typed (any case, dashes, spaces) as stored; None if it cannot be a code."""
    code = re.sub(r"[\s-]", "", text).upper()
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


def display_user_code(code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"
