"""Strict reading of policy text: character set, size quota, JSON syntax.

Duplicate keys are not rejected here but recorded per object, so the validator
can name the exact place ("Statement[1]: duplicate element Effect").
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from broker.iam.limits import policy_size
from broker.policy.errors import InvalidPolicyJson, MalformedPolicyDocument, PolicyTooLarge
from broker.policy.kinds import MAX_RAW_LENGTH, PolicyKind

_FORBIDDEN_CHARACTER = re.compile(r"[^\t\n\r\x20-\xff]")

__all__ = ["MAX_JSON_DEPTH", "Duplicates", "json_depth", "load_json", "nested_too_deeply", "policy_size"]

# How deeply JSON from a caller may nest (policies, JSON-protocol bodies, decision requests).
# Python's json module recurses once per level and fails near 1,000 levels with RecursionError;
# nothing the broker reads needs more than a handful, so text nesting deeper is refused first.
MAX_JSON_DEPTH = 64
# A JSON string (its closing quote optional, so an unterminated one ends the text): matched
# without backtracking, so removing them all is linear.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}

# id(object) -> keys that appeared more than once in it. The loader keeps every
# object alive (even ones a duplicate key overwrote) so that no id is reused.
Duplicates = dict[int, list[str]]


def json_depth(text: str) -> int:
    """How deeply ``text`` nests arrays and objects, read as JSON (brackets inside strings do not
    count); linear time, no recursion, whether or not ``text`` is valid JSON."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets), initial=0))


def nested_too_deeply(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` nests deeper than ``limit``: checked before ``json.loads`` sees it."""
    # Fewer opening brackets than the limit cannot nest deeper (the common case: no scan at all).
    return text.count("[") + text.count("{") > limit and json_depth(text) > limit


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
    if nested_too_deeply(text):
        raise MalformedPolicyDocument(f"Policy document: nested more than {MAX_JSON_DEPTH} levels deep")
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
        raise InvalidPolicyJson(
            f"Policy document: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except ValueError as error:
        raise InvalidPolicyJson(f"Policy document: {error}") from None
    # The objects are referenced from here on by the caller's document, but the
    # overwritten ones are not: return them too so they outlive validation.
    duplicates_alive: Duplicates = _Pinned(duplicates, keep_alive)
    return document, duplicates_alive


class _Pinned(dict[int, list[str]]):
    """The duplicate map, holding every parsed object alive while it is in use."""

    def __init__(self, duplicates: Duplicates, objects: list[dict[str, Any]]) -> None:
        super().__init__(duplicates)
        self.objects = objects
