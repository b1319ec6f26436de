"""Wildcard (``*`` and ``?``) matchers compiled once per pattern.

IAM patterns only know two wildcards: ``*`` (any run of characters, including
``/`` and ``:``) and ``?`` (exactly one character). Everything else is literal,
so a pattern compiles to the cheapest test that decides it: equality, a prefix
or suffix check, or an anchored regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

Matcher = Callable[[str], bool]

WILDCARDS = frozenset("*?")


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _always(_value: str) -> bool:
    return True


def _never(_value: str) -> bool:
    return False


def glob_to_regex(pieces: Iterable[tuple[str, bool]]) -> str:
    """Translate (text, wildcards_active) pieces into a regex body.

    Pieces whose flag is False are taken literally, which is how substituted
    policy variables and the ``${*}`` escapes stay inert.
    """
    out: list[str] = []
    for text, active in pieces:
        if not active:
            out.append(re.escape(text))
            continue
        for char in text:
            if char == "*":
                out.append(".*")
            elif char == "?":
                out.append(".")
            else:
                out.append(re.escape(char))
    return "".join(out)


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
    return _regex_matcher(glob_to_regex([(pattern, True)]))


@lru_cache(maxsize=8192)
def compile_pieces(pieces: tuple[tuple[str, bool], ...]) -> Matcher:
    """Matcher for a pattern assembled from literal and wildcard pieces."""
    if all(active for _, active in pieces):
        return compile_glob("".join(text for text, _ in pieces))
    if not any(active and has_wildcard(text) for text, active in pieces):
        return "".join(text for text, _ in pieces).__eq__
    return _regex_matcher(glob_to_regex(pieces))


def _regex_matcher(body: str) -> Matcher:
    # DOTALL: a ``*`` must also swallow newlines an attacker may put in a value.
    fullmatch = re.compile(body, re.DOTALL).fullmatch
    return lambda value: fullmatch(value) is not None


def compile_any(patterns: Iterable[str]) -> Matcher:
    """One matcher that is true when any of the patterns matches.

    Literal patterns go into a set and the wildcard ones into a single
    alternation, so a statement listing many actions or resources costs one
    set lookup plus at most one regex call.
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
    if len(globs) == 1:
        wild = compile_glob(globs[0])
    else:
        alternation = "|".join(f"(?:{glob_to_regex([(glob, True)])})" for glob in globs)
        wild = _regex_matcher(alternation)
    if not exact:
        return wild
    literal = frozenset(exact)
    return lambda value: value in literal or wild(value)
