"""Text helpers shared by the IAM modules' error messages."""

from __future__ import annotations

import unicodedata
from typing import Final

# Values echoed in messages come from callers and end up in logs: shorten long ones and
# escape control characters so one can't forge log lines or flood them.
ECHO_MAX: Final = 256


def echo(value: str) -> str:
    shown = value if len(value) <= ECHO_MAX else value[:ECHO_MAX] + "..."
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in shown)
