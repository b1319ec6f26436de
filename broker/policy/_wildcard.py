"""Wildcard (``*`` and ``?``) matchers compiled once per pattern.

IAM patterns only know two wildcards: ``*`` (any run of characters, including
``/`` and ``:``) and ``?`` (exactly one character). Everything else is literal,
so a pattern compiles to the cheapest test that decides it: equality, a prefix
or suffix check, or a linear segment matcher (never a backtracking regular
expression: patterns and values both come from callers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

Matcher = Callable[[str], bool]


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _always(_value: str) -> bool:
    return True


def _never(_value: str) -> bool:
    return False


@lru_cache(maxsize=8192)
def compile_glob(pattern: str) -> Matcher:
    """Return a case-sensitive full-string matcher for one wildcard pattern."""
    if pattern == "*":
        return _always
    if not has_wildcard(pattern):
        return pattern.__eq__
    body = pattern[:-1]
    if pattern.endswith("*") and not has_wildcard(body):
        return lambda value: value.startswith(body)
    tail = pattern[1:]
    if pattern.startswith("*") and not has_wildcard(tail):
        return lambda value: value.endswith(tail)
    return _GlobMatcher([(pattern, True)])


@lru_cache(maxsize=8192)
def compile_pieces(pieces: tuple[tuple[str, bool], ...]) -> Matcher:
    """Matcher for a pattern assembled from literal and wildcard pieces."""
    if all(active for _, active in pieces):
        return compile_glob("".join(text for text, _ in pieces))
    if not any(active and has_wildcard(text) for text, active in pieces):
        return "".join(text for text, _ in pieces).__eq__
    return _GlobMatcher(pieces)


class _Segment:
    """A run of the pattern between two ``*``: literal characters and ``?`` (any one character).

    Finding it costs at most its length per position of the value: a literal run is
    ``str.find``; a run with ``?`` is a regular expression of literals and ``.`` only, which has
    no quantifier and so nothing to backtrack into.
    """

    __slots__ = ("_search", "length", "literal")

    def __init__(self, chars: list[str | None]) -> None:
        self.length = len(chars)
        if all(char is not None for char in chars):
            self.literal: str | None = "".join(char for char in chars if char is not None)
            self._search = None
        else:
            self.literal = None
            body = "".join("." if char is None else re.escape(char) for char in chars)
            self._search = re.compile(body, re.DOTALL).search

    def at(self, value: str, position: int) -> bool:
        """Whether the segment matches ``value`` exactly at ``position``."""
        if self.literal is not None:
            return value.startswith(self.literal, position)
        assert self._search is not None
        found = self._search(value, position, position + self.length)
        return found is not None and found.start() == position

    def find(self, value: str, start: int, end: int) -> int:
        """The leftmost position >= ``start`` where the segment matches, ending by ``end``; -1 if none."""
        if self.literal is not None:
            return value.find(self.literal, start, end)
        assert self._search is not None
        found = self._search(value, start, end)
        return found.start() if found is not None else -1


class _GlobMatcher:
    """A full-string match of ``*`` and ``?`` in time linear in pattern x value, never worse.

    The pattern splits at ``*`` into segments. The first must match at the start and the last at
    the end; each one between is taken at its leftmost place after the one before, which is
    always right, because the ``*`` on either side absorbs whatever lies between. No regular
    expression with a quantifier runs on a caller's value, so no value can make it backtrack
    (``*a*a*a*a*b`` against a long run of ``a`` used to take time exponential in the stars).
    """

    __slots__ = ("_minimum", "_segments")

    def __init__(self, pieces: Iterable[tuple[str, bool]]) -> None:
        segments: list[list[str | None]] = [[]]
        for text, active in pieces:
            for char in text:
                if active and char == "*":
                    segments.append([])
                elif active and char == "?":
                    segments[-1].append(None)
                else:
                    segments[-1].append(char)
        self._segments = [_Segment(chars) for chars in segments]
        self._minimum = sum(segment.length for segment in self._segments)

    def __call__(self, value: str) -> bool:
        segments = self._segments
        if len(value) < self._minimum:
            return False
        first, last = segments[0], segments[-1]
        if len(segments) == 1:
            return len(value) == first.length and first.at(value, 0)
        end = len(value) - last.length
        if not first.at(value, 0) or not last.at(value, end):
            return False
        position = first.length
        for segment in segments[1:-1]:
            found = segment.find(value, position, end)
            if found < 0:
                return False
            position = found + segment.length
        return True


def compile_any(patterns: Iterable[str]) -> Matcher:
    """One matcher that is true when any of the patterns matches.

    Literal patterns go into a set, so a statement listing many actions or resources costs one
    set lookup plus one linear match per wildcard pattern.
    """
    exact: set[str] = set()
    globs: list[str] = []
    for pattern in patterns:
        if pattern == "*":
            return _always
        if has_wildcard(pattern):
            globs.append(pattern)
        else:
            exact.add(pattern)
    if not globs:
        if not exact:
            return _never
        if len(exact) == 1:
            return next(iter(exact)).__eq__
        return frozenset(exact).__contains__
    wild: Matcher
    if len(globs) == 1:
        wild = compile_glob(globs[0])
    else:
        matchers = tuple(compile_glob(glob) for glob in globs)
        wild = lambda value: any(match(value) for match in matchers)  # noqa: E731
    if not exact:
        return wild
    literal = frozenset(exact)
    return lambda value: value in literal or wild(value)
