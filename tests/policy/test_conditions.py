"""Condition operators: parsing of operator names and values, and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.policy import OPERATORS, ContextValue, MalformedPolicyDocument
from broker.policy.conditions import Family, Qualifier, parse_condition, parse_operator
from broker.policy.request import normalize_context

CASES_DIR = Path(__file__).parent / "cases"


def holds(operator: str, key: str, values: object, context: dict[str, ContextValue]) -> tuple[bool, list[str]]:
    condition = parse_condition(operator, key, values, path="C", allow_variables=True)
    missing: list[str] = []
    return condition.holds(normalize_context(context), missing), missing


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_operator_and_its_variants_parse(name: str) -> None:
    operator, qualifier, if_exists = parse_operator(name, "C")
    assert (operator.name, qualifier, if_exists) == (name, None, False)
    if operator.family is Family.NULL:
        return
    assert parse_operator(f"{name}IfExists", "C") == (operator, None, True)
    assert parse_operator(f"ForAllValues:{name}", "C") == (operator, Qualifier.FOR_ALL_VALUES, False)
    assert parse_operator(f"ForAnyValue:{name}IfExists", "C") == (operator, Qualifier.FOR_ANY_VALUE, True)


def test_every_operator_is_used_by_some_evaluation_case() -> None:
    text = "".join(path.read_text() for path in CASES_DIR.glob("*.json"))
    unused = [name for name in OPERATORS if f'"{name}' not in text and f":{name}" not in text]
    assert unused == []


def test_the_operator_table_is_complete() -> None:
    assert len(OPERATORS) == 27
    negated = {name for name, operator in OPERATORS.items() if operator.negated}
    assert negated == {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
        "ArnNotEquals",
        "ArnNotLike",
    }


@pytest.mark.parametrize(
    ("operator", "expected_when_missing"),
    [
        ("StringEquals", False),
        ("StringNotEquals", True),
        ("StringLikeIfExists", True),
        ("NumericLessThan", False),
        ("NumericNotEquals", True),
        ("DateNotEquals", True),
        ("NotIpAddress", True),
        ("ArnNotLike", True),
        ("ArnLike", False),
        ("ForAllValues:StringEquals", True),
        ("ForAllValues:StringNotEquals", True),
        ("ForAnyValue:StringEquals", False),
        ("ForAnyValue:StringNotEquals", False),
        ("ForAnyValue:StringEqualsIfExists", True),
    ],
)
def test_missing_key_results(operator: str, expected_when_missing: bool) -> None:
    values = "arn:aws:iam::111122223333:root" if "Arn" in operator else "1"
    if "IpAddress" in operator:
        values = "10.0.0.0/8"
    result, missing = holds(operator, "aws:SomeKey", values, {})
    assert result is expected_when_missing
    assert missing == ["aws:SomeKey"]


def test_null_does_not_report_its_key_missing() -> None:
    assert holds("Null", "aws:SomeKey", "true", {}) == (True, [])


def test_ordered_numeric_values_use_the_extreme_bound() -> None:
    assert holds("NumericLessThan", "k:n", ["1", "100"], {"k:n": "50"})[0]
    assert not holds("NumericGreaterThan", "k:n", ["60", "100"], {"k:n": "50"})[0]


def test_unresolvable_variable_is_false_for_negated_operators_too() -> None:
    assert holds("StringNotEquals", "k:a", "${k:b}", {"k:a": "x"}) == (False, ["k:b"])


def test_resolved_tests_are_cached_per_value() -> None:
    condition = parse_condition("StringLike", "k:a", "home/${k:user}/*", path="C", allow_variables=True)
    for user in ("alice", "bob", "alice"):
        assert condition.holds(normalize_context({"k:a": f"home/{user}/x", "k:user": user}), [])
    assert len(condition.resolved_tests) == 2


def test_arn_variable_holding_colons_is_split_into_segments() -> None:
    role = "arn:aws:iam::111122223333:role/Dev"
    assert holds("ArnLike", "aws:SourceArn", "${aws:PrincipalArn}", {"aws:SourceArn": role, "aws:PrincipalArn": role})[
        0
    ]


def test_values_are_parsed_into_their_type() -> None:
    condition = parse_condition("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "::1"], path="C", allow_variables=True)
    assert [str(value) for value in condition.values] == ["10.0.0.0/8", "::1/128"]
    condition = parse_condition("DateEquals", "aws:CurrentTime", "1970-01-02", path="C", allow_variables=True)
    assert condition.values == (86400.0,)


@pytest.mark.parametrize(
    ("operator", "values", "message"),
    [
        ("StringEquals", None, "C.k:a: condition values must be strings, numbers or booleans"),
        ("StringEquals", [], "C.k:a: empty list of condition values"),
        ("NumericEquals", "x", "C.k:a: 'x' is not a number"),
        ("NumericEquals", "nan", "C.k:a: 'nan' is not a number"),
        ("DateEquals", "2020-13-01", "C.k:a: '2020-13-01' is not an ISO 8601 date"),
        ("Bool", "1", "C.k:a: '1' is neither"),
        ("BinaryEquals", "@@", "C.k:a: '@@' is not base64"),
        ("IpAddress", "1.2.3", "C.k:a: '1.2.3' is not an IPv4 or IPv6"),
        ("NumericEquals", "${k:b}", "C.k:a: policy variables are only allowed"),
        ("ForAllValues:Null", "true", "C: Null takes neither"),
        ("Strange", "x", "C: unknown condition operator 'Strange'"),
        ("ForEach:StringEquals", "x", "C: unknown set operator 'ForEach'"),
    ],
)
def test_rejections_name_the_place(operator: str, values: object, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_condition(operator, "k:a", values, path="C", allow_variables=True)
    assert str(caught.value).startswith(message)


def test_json_values_read_as_json_text() -> None:
    condition = parse_condition("StringEquals", "k:a", [1, 2.5, True], path="C", allow_variables=True)
    assert condition.values == ("1", "2.5", "true")
    assert json.dumps(condition.values) == '["1", "2.5", "true"]'
