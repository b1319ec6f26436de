"""IAM pagination: ``Marker``/``MaxItems`` in, ``IsTruncated``/``Marker`` out.

Items are ordered by a unique sort key; the marker is that key of the last item returned,
base64url-encoded (opaque to clients, as AWS's are). A marker survives items being added or
removed between pages, which an offset would not.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from broker.iam.names import constraint_violation, length_violations, validate_int_range, validation_error
from broker.store import Tx

T = TypeVar("T")

MAX_ITEMS_DEFAULT = 100
MAX_ITEMS_MAX = 1000
MARKER_MAX = 320


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One item of a listing: what the result shows of it, and the unique key that orders it."""

    sort_key: str
    value: T


# ListUsers and friends: (transaction, account, PathPrefix) -> the account's entities under it.
PathListing = Callable[[Tx, str, str | None], Sequence[Entry[Any]]]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    is_truncated: bool
    marker: str | None

    def result(self, name: str, items: object) -> dict[str, object]:
        """``{name: items, "IsTruncated": ..., "Marker": ...}`` in AWS's element order."""
        return {name: items, "IsTruncated": self.is_truncated, "Marker": self.marker}


def max_items(value: int | None) -> int:
    if value is None:
        return MAX_ITEMS_DEFAULT
    return validate_int_range(value, "maxItems", 1, MAX_ITEMS_MAX)


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(marker: str) -> str:
    violations = length_violations(marker, "marker", 1, MARKER_MAX)
    if violations:
        raise validation_error(violations)
    try:
        # validate=True: the decoder would otherwise drop characters outside the alphabet, and a
        # corrupted marker ("!!!!") silently restart the listing at its first page.
        padded = (marker + "=" * (-len(marker) % 4)).encode("ascii")
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise validation_error(
            [constraint_violation(marker, "marker", "must be a marker this service returned")]
        ) from None


def paginate(items: Sequence[T], key: Callable[[T], str], marker: str | None, limit: int | None) -> Page[T]:
    """One page of ``items`` in ``key`` order, starting after ``marker``."""
    count = max_items(limit)
    ordered = sorted(items, key=key)
    if marker is not None:
        after = _decode(marker)
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:count]
    truncated = len(ordered) > count
    return Page(page, truncated, _encode(key(page[-1])) if truncated and page else None)
