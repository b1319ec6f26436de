"""Device user codes (RFC 8628 section 6.1): what a person reads in the terminal and types in a browser.

A code is 8 characters of a 20-letter alphabet: consonants only, so no vowel makes a word and no
digit or letter looks like another (no 0/O, 1/I/L... there are no digits at all), shown as
``XXXX-XXXX``. That is 20**8 = 2.56e10 codes (34.5 bits). What a person types is compared
ignoring case, dashes, spaces and any other punctuation; anything else (a digit, a vowel, a letter
of another script) makes it no code at all.

Why that is enough: a code lives :data:`~broker.services.cli_auth.device.DEVICE_LIFETIME`
(10 minutes), and a wrong code locks whoever typed it out after
:data:`MAX_WRONG_CODES` within :data:`WRONG_CODE_WINDOW`, per browser session and per client
address (:mod:`.user_code_guard`). One address therefore tries at most 5 codes per pending code's
life: against 1,000 codes pending at once, each try hits one with a chance of 1000 / 2.56e10
(4e-8), so a million addresses trying 5 codes each would still find a given code with a chance
of about 2e-4.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
import unicodedata
from typing import Final

USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH: Final = 8
# What a person may type around the code (dashes, spaces, stray punctuation) is bounded too.
MAX_TYPED_LENGTH: Final = 64

# Wrong, well-formed codes a browser session or a client address may type within the window...
MAX_WRONG_CODES: Final = 5
WRONG_CODE_WINDOW: Final = dt.timedelta(minutes=15)
# ...before it is locked out of entering codes (right ones included) for this long.
WRONG_CODE_LOCKOUT: Final = dt.timedelta(minutes=15)
# Failed attempts on one device authorization (a locked-out guesser typing its code, a forged or
# refused decision on it) before it is locked: it can then never be approved.
MAX_DEVICE_STRIKES: Final = 3

_ASCII_LETTERS: Final = frozenset(string.ascii_letters)
_IGNORED_ASCII: Final = frozenset(string.punctuation + string.whitespace)


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def _ignored(ch: str) -> bool:
    # Punctuation (P*) and separators (Z*) of any script: a pasted en dash or no-break space too.
    return ch in _IGNORED_ASCII or unicodedata.category(ch)[0] in "PZ"


def normalise_user_code(text: str | None) -> str | None:
    """What a person typed, as stored (8 capital letters), or None if it cannot be a code."""
    if text is None or len(text) > MAX_TYPED_LENGTH:
        return None
    kept: list[str] = []
    for ch in text:
        if ch in _ASCII_LETTERS:
            kept.append(ch.upper())  # ASCII only: str.upper() maps some other letters (U+017F) to ASCII
        elif not _ignored(ch):
            return None
    code = "".join(kept)
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


def display_user_code(code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"
