"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'none'}``, ``${*}``.

A string that may hold variables is parsed once into a :class:`Template`; at
request time the template is resolved against the request context into pieces
that keep substituted text literal, so a user named ``a*`` cannot widen a
``StringLike`` or resource pattern.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from broker.policy._values import Scalar, to_text
from broker.policy.errors import MalformedPolicyDocument

# The three escapes stand for the literal character, never for a wildcard.
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

_VARIABLE = re.compile(
    r"\$\{\s*(?P<name>[^\s,}']+)\s*(?:,\s*'(?P<default>[^']*)'\s*)?\}",
)
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_.-]+:[^\s,}']+")

# Piece kinds: policy text (wildcards live), literal text, variable reference.
TEXT = 0
LITERAL = 1
VARIABLE = 2

Piece = tuple[int, str, str | None]
Context = Mapping[str, tuple[Scalar, ...]]


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string split into text, escapes and variable references."""

    source: str
    pieces: tuple[Piece, ...]
    has_variables: bool

    def variable_keys(self) -> tuple[str, ...]:
        return tuple(name for kind, name, _ in self.pieces if kind == VARIABLE)

    def variable_values(self, context: Context, missing: list[str] | None = None) -> tuple[str, ...] | None:
        """Values of the variables in order, or None when one has no value
        (its key is then appended to ``missing``). Cheap: callers key caches on it."""
        if not self.has_variables:
            return ()
        values: list[str] = []
        for kind, name, default in self.pieces:
            if kind == VARIABLE:
                value = resolve_variable(name, default, context)
                if value is None:
                    if missing is not None:
                        missing.append(name)
                    return None
                values.append(value)
        return tuple(values)

    def fill(self, values: tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
        """Pieces as (text, wildcards_active) with ``values`` substituted (kept literal)."""
        out: list[tuple[str, bool]] = []
        remaining = iter(values)
        for kind, text, _ in self.pieces:
            if kind == TEXT:
                out.append((text, True))
            elif kind == LITERAL:
                out.append((text, False))
            else:
                out.append((next(remaining), False))
        return tuple(out)

    def resolve(self, context: Context, missing: list[str] | None = None) -> tuple[tuple[str, bool], ...] | None:
        """Pieces with the context's values substituted, or None when one is missing."""
        values = self.variable_values(context, missing)
        return None if values is None else self.fill(values)


def resolve_variable(key: str, default: str | None, context: Context) -> str | None:
    """Value of one variable; multi-valued keys cannot be substituted (as in AWS)."""
    values = context.get(key.lower())
    if values is not None and len(values) == 1:
        return to_text(values[0])
    return default


def plain_template(text: str) -> Template:
    return Template(text, ((TEXT, text, None),), False)


def parse_template(text: str, *, allow_variables: bool, path: str) -> Template:
    """Split ``text`` into pieces.

    ``allow_variables`` is False for 2008-10-17 documents, where ``${...}`` is
    ordinary text, as AWS documents.
    """
    if not allow_variables or "${" not in text:
        return plain_template(text)
    pieces: list[Piece] = []
    position = 0
    while True:
        start = text.find("${", position)
        if start < 0:
            break
        if start > position:
            pieces.append((TEXT, text[position:start], None))
        match = _VARIABLE.match(text, start)
        if match is None:
            raise MalformedPolicyDocument(
                f"{path}: malformed policy variable at character {start + 1} of {text!r}; "
                "expected ${key} or ${key, 'default'}"
            )
        name = match.group("name")
        default = match.group("default")
        if name in _ESCAPES:
            if default is not None:
                raise MalformedPolicyDocument(f"{path}: the escape ${{{name}}} takes no default value")
            pieces.append((LITERAL, _ESCAPES[name], None))
        elif _VARIABLE_NAME.fullmatch(name):
            pieces.append((VARIABLE, name, default))
        else:
            raise MalformedPolicyDocument(f"{path}: policy variable ${{{name}}} is not a condition key (service:name)")
        position = match.end()
    if position < len(text):
        pieces.append((TEXT, text[position:], None))
    has_variables = any(kind == VARIABLE for kind, _, _ in pieces)
    return Template(text, tuple(pieces), has_variables)
