"""Text helpers: what error messages echo of a caller's value, and which values to refuse."""

from __future__ import annotations

import unicodedata
from typing import Final

# Values echoed in messages come from callers and end up in logs: shorten long ones and
# escape control characters so one can't forge log lines or flood them.
ECHO_MAX: Final = 256


def echo(value: str) -> str:
    shown = value if len(value) <= ECHO_MAX else value[:ECHO_MAX] + "..."
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in shown)


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a C0 control character or DEL: no name, identifier or OAuth state
    has one (RFC 6749 A.5: state is printable ASCII), and PostgreSQL refuses NUL in text."""
    return any(ord(character) < 32 or character == "\x7f" for character in text)
