"""JSON from callers is refused past MAX_JSON_DEPTH levels before json.loads recurses into it:
the depth scan itself (against a reference on random documents), policy documents, the decision
API's body. (JSON-protocol bodies: tests/web/test_protocol_refusals.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.policy import MalformedPolicyDocument, PolicyKind
from broker.policy._json import MAX_JSON_DEPTH, json_depth, load_json, nested_too_deeply
from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import audited, decision_error, form_body, query_error, signed_headers


def _reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_reference_depth, value), default=0)
    return 0


documents = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(alphabet='[]{}"\\ab', max_size=8)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, derandomize=True, database=None)
@given(document=documents, indent=st.sampled_from([None, 0, 2]))
def test_the_scan_agrees_with_the_parsed_depth(document: Any, indent: int | None) -> None:
    # Strings full of brackets, quotes and backslashes must not count.
    assert json_depth(json.dumps(document, indent=indent)) == _reference_depth(document)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("1", 0),
        ('"[[["', 0),
        ('"\\\\"', 0),
        ('["\\\\", [[]]]', 3),
        ('["\\"[", [[]]]', 3),
        ('"unterminated [[[[', 0),
        ("[[[", 3),  # unclosed: still as deep as json.loads would go
        ("]]][[", 0),  # json.loads fails at the first character
    ],
)
def test_the_scan_on_odd_text(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_only_text_with_enough_brackets_is_scanned() -> None:
    assert not nested_too_deeply("[" * MAX_JSON_DEPTH)
    assert nested_too_deeply("[" * (MAX_JSON_DEPTH + 1))
    assert not nested_too_deeply('"' + "[" * 1000 + '"')


def _policy(depth: int) -> str:
    return '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":' + (
        "[" * depth + '"*"' + "]" * depth + "}]}"
    )


def test_a_policy_nested_too_deeply_is_malformed() -> None:
    with pytest.raises(MalformedPolicyDocument) as raised:
        load_json(_policy(2_000), PolicyKind.MANAGED)  # deep enough for a RecursionError in json.loads
    assert f"nested more than {MAX_JSON_DEPTH} levels deep" in raised.value.message


def test_create_policy_with_a_deep_document_is_a_400(fuzz_broker: FuzzBroker) -> None:
    pairs = [("Action", "CreatePolicy"), ("Version", "2010-05-08"), ("PolicyName", "deep")]
    body = form_body([*pairs, ("PolicyDocument", _policy(2_000))]).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    response = fuzz_broker.anonymous().post(
        "/", data=body, headers=signed_headers(fuzz_broker.admin, "iam", "POST", "/", body, headers)
    )
    code, request_id = query_error(response)
    assert (response.status_code, code) == (400, "MalformedPolicyDocument")
    audited(fuzz_broker.runtime, request_id, "MalformedPolicyDocument")


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 5_000])
def test_a_decision_request_nested_too_deeply(fuzz_broker: FuzzBroker, depth: int) -> None:
    body = ('{"action":"s3:GetObject","resource":"*","context":{"k":' + "[" * depth + "]" * depth + "}}").encode()
    headers = signed_headers(
        fuzz_broker.admin, "execute-api", "POST", "/v1/decisions", body, {"Content-Type": "application/json"}
    )
    response = fuzz_broker.anonymous().post("/v1/decisions", data=body, headers=headers)
    code, request_id = decision_error(response)
    assert (response.status_code, code) == (400, "MalformedRequest")
    assert f"more than {MAX_JSON_DEPTH} levels" in response.get_data(as_text=True)
    audited(fuzz_broker.runtime, request_id, "MalformedRequest")
