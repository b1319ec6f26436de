"""CloudTrail's names for an API call's parameters and results: camelCase, nested.

CloudTrail records ``requestParameters`` and ``responseElements`` with camelCase keys whatever
the wire protocol spells: IAM's Query parameter ``UserName`` is ``userName``, the Query list
``Tags.member.1.Key`` is ``tags: [{"key": ...}]``, and the JSON protocol's ``FeatureSet`` is
``featureSet``. Only the first character is lowered (``SAMLProviderArn`` is ``sAMLProviderArn``,
as CloudTrail writes it). Values are never touched: a policy document stays the string it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

_INDEX: Final = re.compile(r"[0-9]{1,9}")
_LIST_MARKERS: Final = frozenset({"member", "entry"})
# Deeper than this a value is left as it is (request bodies are depth-limited well before it).
_MAX_DEPTH: Final = 64
# A Query name of more parts than this is recorded flat, under its dotted name. AWS's deepest
# (a list of structures holding a list) has about six; a name of a thousand parts, which anyone
# can send before any signature is checked, would otherwise nest a thousand levels.
_MAX_PARTS: Final = 16


def camel(name: str) -> str:
    """``UserName`` -> ``userName``; a name already in camelCase is unchanged."""
    return name[:1].lower() + name[1:]


def camel_keys(value: Any, depth: int = 0) -> Any:
    """``value`` with every object key in camelCase, at any depth (JSON bodies, results)."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        converted: dict[Any, Any] = {}
        for key, item in value.items():
            name = camel(key) if isinstance(key, str) else key
            # Two wire names with one camelCase form ("Name" and "name"): the first one wins,
            # as a JSON object keeps one value per key.
            converted.setdefault(name, camel_keys(item, depth + 1))
        return converted
    if isinstance(value, list | tuple):
        return [camel_keys(item, depth + 1) for item in value]
    return value


class _List:
    """A Query list being assembled: its members by index."""

    def __init__(self) -> None:
        self.items: dict[int, Any] = {}


def query_parameters(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Flat Query parameters (``Tags.member.1.Key=k``) as CloudTrail's nested camelCase object.

    ``X.member.N`` (and ``X.entry.N``) become list members in index order. A name that does not
    fit the shape the others built (``Tags.member.1`` next to ``Tags.member.1.Key``) is kept
    under its own camelCase dotted name rather than dropped: the record shows what was sent.
    """
    root: dict[str, Any] = {}
    for name, value in pairs:
        parts = name.split(".")
        if len(parts) > _MAX_PARTS or not _place(root, parts, value):
            root.setdefault(".".join(camel(part) for part in parts), value)
    result: dict[str, Any] = _finish(root)
    return result


def _place(root: dict[str, Any], parts: list[str], value: str) -> bool:
    """Put ``value`` at the path ``parts`` names; False when the path clashes with another.

    Nothing is created on the way to a refusal: a clash is met at a node that existed already,
    and below a node created here every node is new."""
    if not all(parts):
        return False
    node: dict[str, Any] | _List = root
    index = 0
    while index < len(parts):
        part = parts[index]
        last = index == len(parts) - 1
        if isinstance(node, _List):
            if not _INDEX.fullmatch(part):
                return False
            key: Any = int(part)
            slots: dict[Any, Any] = node.items
        else:
            key = camel(part)
            slots = node
        following = parts[index + 1] if not last else None
        if last:
            if key in slots:
                return False
            slots[key] = value
            return True
        # "member"/"entry" followed by an index: the next node is a list.
        is_list = (
            following in _LIST_MARKERS and index + 2 < len(parts) and _INDEX.fullmatch(parts[index + 2]) is not None
        )
        existing = slots.get(key)
        if existing is None:
            existing = _List() if is_list else {}
            slots[key] = existing
        elif isinstance(existing, _List) != is_list or isinstance(existing, str):
            return False
        node = existing
        index += 2 if is_list else 1
    return False


def _finish(node: Any) -> Any:
    if isinstance(node, _List):
        return [_finish(node.items[position]) for position in sorted(node.items)]
    if isinstance(node, dict):
        return {key: _finish(item) for key, item in node.items()}
    return node
