"""Coercion of request-context values and policy values to operator types.

Context values arrive as Python objects (``str``, ``bool``, numbers,
``datetime``, ``bytes``); policy values arrive as JSON strings. Each condition
family compares in its own type, and a value that does not convert simply does
not match, as AWS treats a type mismatch.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import TypeVar

Scalar = str | bool | int | float | datetime | bytes
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_T = TypeVar("_T")

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = re.compile(r"[+-]?\d+(?:\.\d+)?")


def to_text(value: Scalar) -> str:
    """String form used by String, Arn and variable substitution."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def parse_number(text: str) -> float | None:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def to_number(value: Scalar) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _finite(value)
    if isinstance(value, str):
        return parse_number(value)
    return None


def _finite(value: int | float) -> float | None:
    """``value`` as a float, or None when it is not finite or too large for one (an int past 1e308)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime is taken as UTC: AWS request times are always UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _timestamp(moment: datetime) -> float:
    """POSIX seconds of ``moment`` (a naive one taken as UTC: AWS request times are always UTC).
    By subtraction, which holds for every datetime: converting a date at the calendar's edge to
    UTC first would overflow."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH_START).total_seconds()


@lru_cache(maxsize=4096)
def parse_date(text: str) -> float | None:
    """ISO 8601 date or date-time, or epoch seconds, as a POSIX timestamp."""
    text = text.strip()
    if not text:
        return None
    if _EPOCH.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _timestamp(moment)


def to_timestamp(value: Scalar) -> float | None:
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, bool | bytes):
        return None
    if isinstance(value, int | float):
        return _finite(value)
    return parse_date(value)


def parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def to_bool(value: Scalar) -> bool | None:
    return _as_or_parsed(value, bool, parse_bool)


def parse_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def to_bytes(value: Scalar) -> bytes | None:
    return _as_or_parsed(value, bytes, parse_base64)


def _as_or_parsed(value: Scalar, kind: type[_T], parse: Callable[[str], _T | None]) -> _T | None:
    """``value`` if it already is of the family's type, a string in the policy syntax parsed."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        return parse(value)
    return None


def parse_network(text: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def to_ip(value: Scalar) -> IpAddress | None:
    if not isinstance(value, str):
        return None
    return _parse_ip(value)


@lru_cache(maxsize=4096)
def _parse_ip(text: str) -> IpAddress | None:
    # Cached: the same client addresses come back request after request.
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


IpNetworkTypes = (ipaddress.IPv4Network, ipaddress.IPv6Network)
