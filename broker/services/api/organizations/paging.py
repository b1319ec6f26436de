"""Organizations' paging: ``MaxResults`` items after the key a sealed ``NextToken`` names."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from broker.crypto.box import DecryptionError, SecretBox
from broker.iam import orgs

T = TypeVar("T")

_NEXT_TOKEN_MAX = 1024


class Identified(Protocol):
    @property
    def id(self) -> str: ...


def by_id(item: Identified) -> str:
    """The key most listings page by."""
    return item.id


def binding(account_id: str, operation: str, body: Mapping[str, Any]) -> str:
    """What a token is good for: one account's listing, with the same other parameters."""
    parameters = {name: value for name, value in body.items() if name not in ("MaxResults", "NextToken")}
    return "organizations-next-token|" + json.dumps(
        [account_id, operation, parameters], sort_keys=True, separators=(",", ":"), default=str
    )


def page(
    box: SecretBox, bound_to: str, body: Mapping[str, Any], items: Sequence[T], key: Callable[[T], str]
) -> tuple[list[T], dict[str, str]]:
    """``MaxResults`` items after the ``NextToken`` key.

    The token seals the last key returned, bound to the caller's account, the operation and its
    other parameters: a token the broker did not issue, or issued for another listing, is
    ``InvalidInputException`` (``INVALID_NEXT_TOKEN``), as in AWS.
    """
    limit = orgs.max_results(body.get("MaxResults"))
    ordered = sorted(items, key=key)
    token = body.get("NextToken")
    start = 0
    if token is not None:
        try:
            if not isinstance(token, str) or len(token) > _NEXT_TOKEN_MAX:
                raise DecryptionError
            after = box.open(token, bound_to)
        except (DecryptionError, ValueError):
            raise orgs.invalid_input("INVALID_NEXT_TOKEN", "The NextToken is not one this service returned.") from None
        start = next((index for index, item in enumerate(ordered) if key(item) > after), len(ordered))
    found = ordered[start : start + limit]
    more: dict[str, str] = {}
    if start + limit < len(ordered):
        more["NextToken"] = box.seal(key(found[-1]), bound_to)
    return found, more
