"""Reading policy text: size quota, character set, strict JSON."""

from __future__ import annotations

import pytest

from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, policy_size
from broker.policy._json import load_json


def test_policy_size_ignores_whitespace() -> None:
    assert policy_size('{ "a" :\t[1,\n2] }\r\n') == len('{"a":[1,2]}')


def test_too_large_carries_size_and_limit() -> None:
    text = '{"Statement": "' + "x" * 3000 + '"}'
    with pytest.raises(PolicyTooLarge) as caught:
        load_json(text, PolicyKind.SESSION)
    assert caught.value.limit == 2048
    assert caught.value.size == policy_size(text)
    assert isinstance(caught.value, MalformedPolicyDocument)


def test_size_is_checked_per_kind() -> None:
    text = '{"Statement": "' + "x" * 3000 + '"}'
    load_json(text, PolicyKind.MANAGED)
    with pytest.raises(PolicyTooLarge):
        load_json(text, PolicyKind.INLINE_USER)


def test_duplicates_are_recorded_per_object() -> None:
    document, duplicates = load_json('{"a": {"b": 1, "b": 2}, "c": 3}', PolicyKind.IDENTITY)
    assert duplicates == {id(document["a"]): ["b"]}


def test_overwritten_objects_stay_alive_so_ids_are_not_reused() -> None:
    _, duplicates = load_json('{"a": {"x": 1, "x": 2}, "a": {"y": 1}}', PolicyKind.IDENTITY)
    # The first {"x"...} object was overwritten but its id must stay reserved.
    assert len(duplicates) == 2


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_rejected(constant: str) -> None:
    with pytest.raises(MalformedPolicyDocument, match="is not valid JSON"):
        load_json('{"a": ' + constant + "}", PolicyKind.IDENTITY)


def test_the_position_of_a_forbidden_character_is_given() -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        load_json('{\n  "a": "\u20ac"}', PolicyKind.IDENTITY)
    assert str(caught.value).startswith("Policy document: character U+20AC at line 2 column 9")


def test_text_must_be_a_string() -> None:
    with pytest.raises(MalformedPolicyDocument, match="expected text"):
        load_json(b"{}", PolicyKind.IDENTITY)  # type: ignore[arg-type]
