"""Each pattern compiles to the cheapest test that decides it, once.

The module promises equality, a prefix or a suffix check before any segment matcher, and one
compilation per pattern. A mutant that skips a fast path or the cache decides the same way, only
slower on the hot path, so these tests look at what was compiled.
"""

from __future__ import annotations

from broker.policy._wildcard import _GlobMatcher, _Segment, compile_any, compile_glob, compile_pieces


def test_a_lone_star_is_the_always_matcher_everywhere() -> None:
    always = compile_glob("*")
    assert not isinstance(always, _GlobMatcher)
    assert always("") and always("anything at all")
    assert compile_any(["a", "*", "b*"]) is always
    assert compile_any(["*"]) is always


def test_prefix_suffix_and_literal_patterns_skip_the_segment_matcher() -> None:
    for pattern in ("abc", "ab*", "*ab", "arn:aws:s3:::bucket/*"):
        assert not isinstance(compile_glob(pattern), _GlobMatcher), pattern
    assert isinstance(compile_glob("a*b"), _GlobMatcher)
    assert isinstance(compile_glob("*a*"), _GlobMatcher)
    assert isinstance(compile_glob("ab?"), _GlobMatcher)


def test_pieces_without_an_active_wildcard_compare_for_equality() -> None:
    literal = compile_pieces((("home/", True), ("a*b", False)))
    assert not isinstance(literal, _GlobMatcher)
    assert literal("home/a*b")
    assert not literal("home/axb")
    mixed = compile_pieces((("home/", True), ("a*b", False), ("/*", True)))
    assert isinstance(mixed, _GlobMatcher)
    assert mixed("home/a*b/x") and not mixed("home/axb/x")


def test_a_pattern_is_compiled_once() -> None:
    assert compile_glob("x*y?z") is compile_glob("x*y?z")
    pieces = (("x", True), ("*", False), ("?", True))
    assert compile_pieces(pieces) is compile_pieces(pieces)


def test_a_segment_not_found_is_minus_one() -> None:
    assert _Segment(["a", None]).find("bbbb", 0, 4) == -1
    assert _Segment(["a", None]).find("bbab", 0, 4) == 2
    assert _Segment(["a", "b"]).find("bbbb", 0, 4) == -1
    assert _Segment(["a", "b"]).find("bbab", 0, 4) == 2
