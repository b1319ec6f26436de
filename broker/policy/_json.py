"""Strict reading of policy text: character set, size quota, JSON syntax.

Duplicate keys are not rejected here but recorded per object, so the validator
can name the exact place ("Statement[1]: duplicate element Effect").
"""

from __future__ import annotations

import json
import re
from typing import Any

from broker.iam.limits import policy_size
from broker.policy.errors import MalformedPolicyDocument, PolicyTooLarge
from broker.policy.kinds import MAX_RAW_LENGTH, PolicyKind

_FORBIDDEN_CHARACTER = re.compile(r"[^\t\n\r\x20-\xff]")

__all__ = ["Duplicates", "load_json", "policy_size"]

# id(object) -> keys that appeared more than once in it. The loader keeps every
# object alive (even ones a duplicate key overwrote) so that no id is reused.
Duplicates = dict[int, list[str]]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str, kind: PolicyKind) -> tuple[Any, Duplicates]:
    if not isinstance(text, str):
        raise MalformedPolicyDocument("Policy document: expected text")
    if len(text) > MAX_RAW_LENGTH:
        raise PolicyTooLarge(
            f"Policy document: {len(text)} characters exceeds the {MAX_RAW_LENGTH} character limit on policy text",
            size=len(text),
            limit=MAX_RAW_LENGTH,
        )
    bad = _FORBIDDEN_CHARACTER.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise MalformedPolicyDocument(
            f"Policy document: character U+{ord(bad.group()):04X} at line {line} column {column} "
            "is not allowed (only tab, LF, CR and U+0020 to U+00FF)"
        )
    size = policy_size(text)
    if size > kind.size_limit:
        raise PolicyTooLarge(
            f"Policy document: {size} characters (whitespace excluded) exceeds the "
            f"{kind.size_limit} character quota for {kind.value} policies",
            size=size,
            limit=kind.size_limit,
        )
    duplicates: Duplicates = {}
    keep_alive: list[dict[str, Any]] = []

    def build_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        repeated: list[str] = []
        for key, value in pairs:
            if key in result:
                repeated.append(key)
            result[key] = value
        if repeated:
            duplicates[id(result)] = repeated
        keep_alive.append(result)
        return result

    try:
        document = json.loads(text, object_pairs_hook=build_object, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise MalformedPolicyDocument(
            f"Policy document: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except ValueError as error:
        raise MalformedPolicyDocument(f"Policy document: {error}") from None
    # The objects are referenced from here on by the caller's document, but the
    # overwritten ones are not: return them too so they outlive validation.
    duplicates_alive: Duplicates = _Pinned(duplicates, keep_alive)
    return document, duplicates_alive


class _Pinned(dict[int, list[str]]):
    """The duplicate map, holding every parsed object alive while it is in use."""

    def __init__(self, duplicates: Duplicates, objects: list[dict[str, Any]]) -> None:
        super().__init__(duplicates)
        self.objects = objects
