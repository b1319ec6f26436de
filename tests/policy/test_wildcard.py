"""The compiled wildcard matchers agree with a plain recursive reference matcher."""

from __future__ import annotations

import time
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.policy._wildcard import compile_any, compile_glob, compile_pieces, has_wildcard

PATTERN_ALPHABET = "ab*?/:."
TEXT_ALPHABET = "ab/:*?.\n"

patterns = st.text(alphabet=PATTERN_ALPHABET, max_size=8)
texts = st.text(alphabet=TEXT_ALPHABET, max_size=10)


def reference(pieces: tuple[tuple[str, bool], ...], text: str) -> bool:
    """Match without regexes: `*` any run, `?` one character, only where active."""
    tokens: list[tuple[str, bool]] = []
    for piece, active in pieces:
        tokens.extend((char, active and char in "*?") for char in piece)

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(tokens):
            return j == len(text)
        char, wild = tokens[i]
        if wild and char == "*":
            return match(i + 1, j) or (j < len(text) and match(i, j + 1))
        if j == len(text):
            return False
        if wild and char == "?":
            return match(i + 1, j + 1)
        return char == text[j] and match(i + 1, j + 1)

    return match(0, 0)


@settings(max_examples=400)
@given(patterns, texts)
def test_compile_glob_agrees_with_reference(pattern: str, text: str) -> None:
    assert compile_glob(pattern)(text) == reference(((pattern, True),), text)


@settings(max_examples=200)
@given(patterns, st.text(alphabet="ab/", max_size=6))
def test_a_pattern_matches_its_own_literal_text_when_wildcards_are_removed(pattern: str, filler: str) -> None:
    # Replacing each * by any text and each ? by one character always matches.
    text = "".join(filler if char == "*" else ("x" if char == "?" else char) for char in pattern)
    assert compile_glob(pattern)(text)


@settings(max_examples=300)
@given(st.lists(patterns, max_size=4), texts)
def test_compile_any_is_or_of_patterns(pattern_list: list[str], text: str) -> None:
    expected = any(reference(((pattern, True),), text) for pattern in pattern_list)
    assert compile_any(pattern_list)(text) == expected


@settings(max_examples=300)
@given(st.lists(st.tuples(patterns, st.booleans()), min_size=1, max_size=4), texts)
def test_compile_pieces_keeps_inactive_pieces_literal(raw: list[tuple[str, bool]], text: str) -> None:
    pieces = tuple(raw)
    assert compile_pieces(pieces)(text) == reference(pieces, text)


def test_star_crosses_slash_and_colon() -> None:
    assert compile_glob("arn:aws:*")("arn:aws:iam::111122223333:user/a/b")


def test_regex_metacharacters_are_literal() -> None:
    assert compile_glob("a.c")("a.c")
    assert not compile_glob("a.c")("abc")
    assert compile_glob("(x|y)*")("(x|y)z")
    assert not compile_glob("x|y")("x")


def test_fast_paths() -> None:
    assert compile_glob("*")("")
    assert compile_glob("abc")("abc")
    assert not compile_glob("abc")("abcd")
    assert compile_glob("ab*")("abzz")
    assert not compile_glob("ab*")("a")
    assert compile_glob("*ab")("zzab")
    assert not compile_glob("*ab")("abz")
    assert not compile_any([])("x")
    assert compile_any(["a", "b"])("b")
    assert compile_any(["a", "b*"])("bq")


def test_helpers() -> None:
    assert has_wildcard("a?")
    assert has_wildcard("*")
    assert not has_wildcard("abc")


@settings(max_examples=300)
@given(st.text(alphabet="ab*?", max_size=14), st.text(alphabet="ab", max_size=40))
def test_many_segments_agree_with_reference(pattern: str, text: str) -> None:
    # Few letters, many stars: the leftmost choice of each segment is exercised hard.
    assert compile_glob(pattern)(text) == reference(((pattern, True),), text)


# Patterns a caller controls (a session policy, a decision's resource) that made the former
# regular-expression matcher backtrack for seconds to hours, holding the interpreter lock:
# (pattern, a value it refuses, a value it matches).
HOSTILE = [
    ("arn:aws:s3:::" + "*a" * 20 + "*b", "arn:aws:s3:::" + "a" * 2048, "arn:aws:s3:::" + "a" * 2048 + "b"),
    ("*a" * 20 + "*b", "a" * 2048, "a" * 2048 + "b"),
    ("reports/*/*/*/*.pdf", "reports/" + "/" * 2040 + "x", "reports/" + "/" * 2040 + "x.pdf"),
    ("*?a" * 10 + "*?b", "a" * 2048, "a" * 2048 + "b"),
    ("*" + "a?" * 20 + "*b", "a" * 2048, "a" * 2047 + "b"),
]


def test_hostile_patterns_decide_in_linear_time() -> None:
    for pattern, refused, matched in HOSTILE:
        matcher = compile_glob(pattern)
        assert not matcher(refused)
        assert matcher(matched)
        started = time.perf_counter()
        for _ in range(10):
            matcher(refused)
        per_call = (time.perf_counter() - started) / 10
        # Linear: a few microseconds here (5 ms leaves room for any machine); the backtracking
        # matcher took seconds on the first of these.
        assert per_call < 0.005, (pattern, per_call)
    either = compile_any([pattern for pattern, _, _ in HOSTILE])
    assert not either("a" * 2048)
    assert either("a" * 2048 + "b")
