"""Reading a request's parameters: repeated Query names, integers in ASCII digits only, list
indexes, and JSON-protocol bodies bounded in depth."""

from __future__ import annotations

import json

import pytest

from broker.iam.errors import AwsError
from broker.policy._json import MAX_JSON_DEPTH
from broker.services.api.params import Params, read_json_body


def _code(call: object) -> str:
    assert callable(call)
    with pytest.raises(AwsError) as raised:
        call()
    return raised.value.code


def test_a_repeated_name_is_found_whatever_its_values() -> None:
    assert Params([("Action", "GetUser"), ("Version", "2010-05-08")]).repeated() is None
    assert Params([("Action", "GetUser"), ("Action", "GetUser")]).repeated() == "Action"
    assert Params([("Action", "GetUser"), ("UserName", "a"), ("UserName", "b")]).repeated() == "UserName"


def test_sigv4_parameters_are_left_to_the_signature_check() -> None:
    # A presigned URL's own parameters have their own refusal (IncompleteSignature).
    assert Params([("X-Amz-Date", "1"), ("X-Amz-Date", "2")]).repeated() is None


def test_reading_a_repeated_parameter_is_a_query_error() -> None:
    params = Params([("UserName", "a"), ("UserName", "b")])
    with pytest.raises(AwsError) as raised:
        params.get("UserName")
    assert raised.value.code == "InvalidQueryParameter" and raised.value.status == 400
    assert "UserName" in raised.value.message


@pytest.mark.parametrize("value", ["3600", "-1", "0", "007"])
def test_integers_in_ascii_digits(value: str) -> None:
    assert Params([("DurationSeconds", value)]).integer("DurationSeconds") == int(value)


@pytest.mark.parametrize(
    "value", ["²", "٣٦٠٠", "\uff13\uff16\uff10\uff10", "1_000", " 7 ", "7 ", "+7", "1e3", "", "9" * 5000]
)
def test_other_digits_are_not_integers(value: str) -> None:
    params = Params([("DurationSeconds", value)])
    with pytest.raises(AwsError) as raised:
        params.integer("DurationSeconds")
    assert raised.value.code == "ValidationError"
    assert len(raised.value.message) < 400  # a huge value is not echoed whole


def test_list_entries_are_read_in_index_order_with_gaps() -> None:
    params = Params(
        [
            ("ActionNames.member.3", "c"),
            ("ActionNames.member.1", "a"),
            ("Tags.member.2.Key", "k2"),
            ("Tags.member.1.Value", "v1"),
            ("Tags.member.1.Key", "k1"),
            ("ContextEntries.member.1.ContextKeyValues.member.1", "nested"),
        ]
    )
    assert params.members("ActionNames") == ["a", "c"]
    assert params.tags() == [("k1", "v1"), ("k2", "")]
    assert params.entries("Tags") == {1: {"Key": "k1", "Value": "v1"}, 2: {"Key": "k2"}}
    assert params.members("ContextEntries.member.1.ContextKeyValues") == ["nested"]
    assert params.entries("ContextEntries") == {}  # the nested list is its own


@pytest.mark.parametrize("index", ["0", "01", "²", "٣", "1_0", "x", "1" * 10, "9" * 5000, ""])
def test_a_list_index_is_1_to_999999999_in_ascii_digits(index: str) -> None:
    # Silently leaving such an entry out once dropped a session policy; 5,000 digits was a 500.
    for name, read in ((f"ActionNames.member.{index}", "members"), (f"Tags.member.{index}.Key", "tags")):
        params = Params([(name, "v")])
        with pytest.raises(AwsError) as raised:
            getattr(params, read)(name.split(".")[0])
        assert raised.value.code == "ValidationError" and len(raised.value.message) < 400


def test_strays_under_a_list_are_refused_where_asked() -> None:
    Params([("PolicyArns.member.1.arn", "a")]).refuse_strays("PolicyArns", "PolicyArns.member.N.arn")
    for stray in ("PolicyArns.1.arn", "PolicyArns.members.1.arn", "PolicyArns.arn"):
        params = Params([("PolicyArns.member.1.arn", "a"), (stray, "b")])
        with pytest.raises(AwsError, match="Unexpected parameter"):
            params.refuse_strays("PolicyArns", "PolicyArns.member.N.arn")


def test_reading_many_nested_lists_costs_each_list_its_own_entries() -> None:
    # SimulateCustomPolicy's context entries each hold a list of values: every entry used to scan
    # every parameter (4,000 entries: 11 s). Count the name comparisons instead of timing them.
    class CountingKey(str):
        compared = 0

        def startswith(self, *args: object) -> bool:  # type: ignore[override]
            CountingKey.compared += 1
            return super().startswith(*args)  # type: ignore[arg-type]

    def read(entries: int) -> int:
        pairs = [(CountingKey(f"ContextEntries.member.{i}.ContextKeyValues.member.1"), "v") for i in range(1, entries)]
        params = Params(pairs)
        CountingKey.compared = 0
        for i in range(1, entries):
            assert params.members(f"ContextEntries.member.{i}.ContextKeyValues") == ["v"]
        return CountingKey.compared

    assert read(2000) <= 2 * read(1000) + 10


def test_json_bodies() -> None:
    assert read_json_body(b"") == {}
    assert read_json_body(b"  ") == {}
    assert read_json_body(b'{"Name": "x", "List": [1, {"a": null}]}') == {"Name": "x", "List": [1, {"a": None}]}


def test_json_nested_to_the_limit_is_read() -> None:
    arrays = MAX_JSON_DEPTH - 1  # inside the body's own object
    value = read_json_body(('{"a":' + "[" * arrays + "]" * arrays + "}").encode())["a"]
    for _ in range(arrays - 1):
        (value,) = value
    assert value == []


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 1_000, 100_000])
def test_json_nested_deeper_is_a_serialization_error(depth: int) -> None:
    body = '{"a":' + "[" * depth + "]" * depth + "}"
    with pytest.raises(AwsError) as raised:
        read_json_body(body.encode())
    assert raised.value.code == "SerializationException" and raised.value.status == 400
    assert f"more than {MAX_JSON_DEPTH} levels" in raised.value.message


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"a": "[" * 5000, "b": "{" * 5000, "c": '\\"[[[['})
    assert read_json_body(body.encode())["a"] == "[" * 5000


@pytest.mark.parametrize(
    "body",
    [b"[]", b"null", b'"x"', b"{", b"\xff\xfe{}", b'{"a": NaN}', b'{"a": -Infinity}', b"\xef\xbb\xbf{}"],
)
def test_bodies_that_are_not_a_json_object(body: bytes) -> None:
    assert _code(lambda: read_json_body(body)) == "SerializationException"
