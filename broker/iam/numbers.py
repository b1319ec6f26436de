"""Strict parsing of decimal integers that arrive as text (form fields, query parameters).

``str.isdigit()`` accepts characters that ``int()`` then refuses ('²', '①') or reads
as digits of another script ('٣' is 3), so a check built on it lets a request reach
``int()`` with text it was never meant to see: a 500, or a value nobody typed.
Everything here accepts ASCII ``0-9`` only, with a bounded length, so the caller
never calls ``int()`` on unchecked text and never parses a thousand-digit number.
"""

from __future__ import annotations

import re
from typing import Final

# ASCII digits only: re's \d and str.isdigit() both match other scripts' digits.
_ASCII_DIGITS: Final = re.compile(r"[0-9]+")


def parse_ascii_int(text: str | None, *, max_digits: int) -> int | None:
    """The non-negative integer that ``text`` spells in 1 to ``max_digits`` ASCII digits.

    Returns None for anything else: None, "", a sign, whitespace, a decimal point,
    a non-ASCII digit, or more than ``max_digits`` characters. Leading zeros are
    allowed (they count towards ``max_digits``). The function does not tell an
    absent value from an invalid one: a caller for whom the difference matters
    tests ``is_absent(text)`` first, e.g. an optional field that is refused when
    present but malformed::

        if is_absent(text):
            duration = None
        elif (duration := parse_ascii_int(text, max_digits=6)) is None:
            raise ...
    """
    if max_digits < 1:
        raise ValueError("max_digits must be at least 1")
    if text is None or len(text) > max_digits or _ASCII_DIGITS.fullmatch(text) is None:
        return None
    return int(text)


def parse_ascii_int_in_range(text: str | None, *, low: int, high: int) -> int | None:
    """``parse_ascii_int`` bounded to ``low..high`` inclusive; None when outside."""
    if low < 0 or high < low:
        raise ValueError("need 0 <= low <= high")
    value = parse_ascii_int(text, max_digits=len(str(high)))
    return value if value is not None and low <= value <= high else None


def is_absent(text: str | None) -> bool:
    """True for a field that was not given: missing (None) or empty."""
    return text is None or text == ""
