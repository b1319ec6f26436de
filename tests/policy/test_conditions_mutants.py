"""Condition operators at their edges: bounds, several values, non-string context values, caches.

Written against mutants the older tests let through: ``...LessThanEquals`` with several values
compared against the wrong bound, String operators never tried on a context value that is not a
string, the set operators' negations, and the cache of resolved variables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from broker.policy import OPERATORS, ContextValue, MalformedPolicyDocument
from broker.policy.conditions import Family, parse_condition
from broker.policy.request import normalize_context


def holds(operator: str, values: object, context_value: ContextValue | None, key: str = "k:a") -> bool:
    condition = parse_condition(operator, key, values, path="C", allow_variables=True)
    return condition.holds(normalize_context({key: context_value}), [])


# --- ordered comparisons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("NumericLessThan", (True, False, False)),
        ("NumericLessThanEquals", (True, True, False)),
        ("NumericGreaterThan", (False, False, True)),
        ("NumericGreaterThanEquals", (False, True, True)),
        ("NumericEquals", (False, True, False)),
        ("NumericNotEquals", (True, False, True)),
    ],
)
def test_numeric_comparisons_at_the_bound(operator: str, expected: tuple[bool, bool, bool]) -> None:
    assert (holds(operator, "10", 9), holds(operator, "10", 10), holds(operator, "10", 11)) == expected
    assert (holds(operator, "10", "9.5"), holds(operator, "10", "10.0"), holds(operator, "10", "1e1")) == (
        expected[0],
        expected[1],
        expected[1],
    )


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("DateLessThan", (True, False, False)),
        ("DateLessThanEquals", (True, True, False)),
        ("DateGreaterThan", (False, False, True)),
        ("DateGreaterThanEquals", (False, True, True)),
        ("DateEquals", (False, True, False)),
        ("DateNotEquals", (True, False, True)),
    ],
)
def test_date_comparisons_at_the_bound(operator: str, expected: tuple[bool, bool, bool]) -> None:
    bound = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    second = dt.timedelta(seconds=1)
    results = (
        holds(operator, "2030-01-01T00:00:00Z", bound - second),
        holds(operator, "2030-01-01T00:00:00Z", bound),
        holds(operator, "2030-01-01T00:00:00Z", bound + second),
    )
    assert results == expected


@pytest.mark.parametrize(
    ("operator", "between", "below", "above"),
    [
        # Several values are OR'ed: "x <= any of them" is "x <= the largest".
        ("NumericLessThan", True, True, False),
        ("NumericLessThanEquals", True, True, False),
        ("NumericGreaterThan", True, False, True),
        ("NumericGreaterThanEquals", True, False, True),
    ],
)
def test_several_numeric_values_use_the_loosest_bound(operator: str, between: bool, below: bool, above: bool) -> None:
    values = ["10", "100"]
    assert holds(operator, values, 50) is between
    assert holds(operator, values, 5) is below
    assert holds(operator, values, 500) is above
    # At each bound: equal to the largest (for <=) or the smallest (for >=).
    inclusive = operator.endswith("Equals")
    assert holds(operator, values, 100) is (inclusive if "Less" in operator else True)
    assert holds(operator, values, 10) is (inclusive if "Greater" in operator else True)


@pytest.mark.parametrize(
    ("operator", "at_earlier", "at_later"),
    [
        ("DateLessThan", True, False),
        ("DateLessThanEquals", True, True),
        ("DateGreaterThan", True, False),
        ("DateGreaterThanEquals", True, True),
    ],
)
def test_several_date_values_use_the_loosest_bound(operator: str, at_earlier: bool, at_later: bool) -> None:
    values = ["2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"]
    earlier = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    later = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    if "Less" in operator:
        assert holds(operator, values, earlier) is at_earlier
        assert holds(operator, values, later) is at_later
    else:
        assert holds(operator, values, later) is at_earlier
        assert holds(operator, values, earlier) is at_later


@pytest.mark.parametrize(
    "operator",
    [f"{family}{test}" for family in ("Numeric", "Date") for test in ("LessThan", "GreaterThan", "Equals")],
)
def test_a_context_value_of_another_type_matches_nothing(operator: str) -> None:
    assert holds(operator, "10", "not a number or date") is False
    assert holds(operator, "10", b"\x00") is False


# --- strings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "policy_value", "context_value"),
    [
        ("StringEquals", "15", 15),
        ("StringEquals", "true", True),
        ("StringEquals", "2.5", 2.5),
        ("StringEquals", "AAE=", b"\x00\x01"),
        ("StringEquals", "2030-01-01T00:00:00Z", dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
        ("StringEqualsIgnoreCase", "TRUE", True),
        ("StringEqualsIgnoreCase", "15", 15),
        ("StringLike", "1*", 15),
        ("StringLike", "tr?e", True),
        ("StringLike", "2030-*Z", dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_string_operators_compare_the_text_of_other_context_values(
    operator: str, policy_value: str, context_value: ContextValue
) -> None:
    assert holds(operator, policy_value, context_value) is True
    negated = operator.replace("String", "StringNot")
    assert holds(negated, policy_value, context_value) is False


@pytest.mark.parametrize(
    ("operator", "policy_value", "context_value"),
    [
        ("StringEquals", "16", 15),
        ("StringEqualsIgnoreCase", "FALSE", True),
        ("StringLike", "2*", 15),
    ],
)
def test_string_operators_refuse_other_context_values_that_differ(
    operator: str, policy_value: str, context_value: ContextValue
) -> None:
    assert holds(operator, policy_value, context_value) is False


def test_string_equals_ignore_case_folds_both_sides() -> None:
    assert holds("StringEqualsIgnoreCase", ["Alpha", "BETA"], "beta")
    assert holds("StringEqualsIgnoreCase", "beta", "BeTa")
    assert not holds("StringEquals", "beta", "BeTa")
    assert not holds("StringEqualsIgnoreCase", "beta", "betamax")


def test_a_variable_value_is_literal_even_when_it_holds_wildcards() -> None:
    condition = parse_condition("StringLike", "k:path", "home/${k:user}/*", path="C", allow_variables=True)
    assert condition.holds(normalize_context({"k:path": "home/*/x", "k:user": "*"}), [])
    assert not condition.holds(normalize_context({"k:path": "home/bob/x", "k:user": "*"}), [])
    assert not condition.holds(normalize_context({"k:path": "home/bob/x", "k:user": "b?b"}), [])
    assert condition.holds(normalize_context({"k:path": "home/b?b/x", "k:user": "b?b"}), [])


def test_string_like_with_several_patterns_with_variables() -> None:
    condition = parse_condition(
        "StringLike", "k:path", ["a/${k:user}/*", "b/${k:user}"], path="C", allow_variables=True
    )
    assert condition.holds(normalize_context({"k:path": "b/bob", "k:user": "bob"}), [])
    assert condition.holds(normalize_context({"k:path": "a/bob/x", "k:user": "bob"}), [])
    assert not condition.holds(normalize_context({"k:path": "c/bob", "k:user": "bob"}), [])


def test_string_equals_with_a_variable() -> None:
    condition = parse_condition("StringEquals", "k:owner", "${k:user}", path="C", allow_variables=True)
    assert condition.holds(normalize_context({"k:owner": "bob", "k:user": "bob"}), [])
    assert not condition.holds(normalize_context({"k:owner": "bob*", "k:user": "bob"}), [])
    ignore_case = parse_condition("StringEqualsIgnoreCase", "k:owner", "${k:user}", path="C", allow_variables=True)
    assert ignore_case.holds(normalize_context({"k:owner": "BOB", "k:user": "bob"}), [])


def test_variables_stay_text_in_2008_documents() -> None:
    condition = parse_condition("StringEquals", "k:a", "${k:b}", path="C", allow_variables=False)
    assert condition.holds(normalize_context({"k:a": "${k:b}", "k:b": "x"}), [])
    with pytest.raises(MalformedPolicyDocument, match="is not a number"):
        parse_condition("NumericEquals", "k:a", "${k:b}", path="C", allow_variables=False)


def test_the_resolved_test_cache_is_bounded() -> None:
    condition = parse_condition("StringLike", "k:a", "${k:user}", path="C", allow_variables=True)
    for number in range(1024):
        assert condition.holds(normalize_context({"k:a": f"u{number}", "k:user": f"u{number}"}), [])
    assert len(condition.resolved_tests) == 1024
    assert condition.holds(normalize_context({"k:a": "last", "k:user": "last"}), [])
    assert len(condition.resolved_tests) == 1


# --- ARNs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        ("arn:aws:iam::*:role/Dev", "arn:aws:iam::111122223333:role/Dev", True),
        ("arn:aws:iam::1*:role/Dev", "arn:aws:iam::1:2:role/Dev", False),  # * stops at a colon
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b:c", True),  # the resource keeps its colons
        ("arn:aws:*:*:*:*", "arn:aws:iam::111122223333:role/Dev", True),
        ("arn:aws:iam::*:role/Dev", "arn:aws:iam::111122223333", False),  # too few parts
        ("arn:aws:iam::*:role/Dev", "not-an-arn", False),
        ("*", "not-an-arn", True),
        ("arn:*", "arn:aws:iam::111122223333:role/Dev", True),  # fewer than six parts: whole match
        ("arn:aws:iam::111122223333:role/?ev", "arn:aws:iam::111122223333:role/Dev", True),
    ],
)
def test_arn_like_matches_part_by_part(pattern: str, arn: str, expected: bool) -> None:
    assert holds("ArnLike", pattern, arn) is expected
    assert holds("ArnEquals", pattern, arn) is expected
    assert holds("ArnNotLike", pattern, arn) is (not expected)


def test_arn_pattern_from_a_variable_splits_on_its_colons() -> None:
    condition = parse_condition(
        "ArnLike", "aws:SourceArn", "arn:aws:iam::${aws:PrincipalAccount}:role/*", path="C", allow_variables=True
    )
    context = {"aws:SourceArn": "arn:aws:iam::111122223333:role/Dev", "aws:PrincipalAccount": "111122223333"}
    assert condition.holds(normalize_context(context), [])
    assert not condition.holds(normalize_context({**context, "aws:PrincipalAccount": "444455556666"}), [])
    # The pattern's parts are counted after substitution: a value's colons split it too.
    split = {**context, "aws:SourceArn": "arn:aws:iam::1:2:role/Dev", "aws:PrincipalAccount": "1:2"}
    assert condition.holds(normalize_context(split), [])
    assert not condition.holds(normalize_context({**split, "aws:SourceArn": "arn:aws:iam::1:3:role/Dev"}), [])


def test_arn_variable_pattern_with_fewer_than_six_parts_matches_whole() -> None:
    condition = parse_condition("ArnLike", "aws:SourceArn", "${k:prefix}*", path="C", allow_variables=True)
    assert condition.holds(normalize_context({"aws:SourceArn": "arn:aws:x", "k:prefix": "arn:"}), [])
    assert not condition.holds(normalize_context({"aws:SourceArn": "urn:aws:x", "k:prefix": "arn:"}), [])


# --- other families --------------------------------------------------------------------------------


def test_bool_binary_and_ip() -> None:
    assert holds("Bool", "true", True) and holds("Bool", "true", "true") and not holds("Bool", "true", False)
    assert holds("Bool", "false", "false") and not holds("Bool", "false", "maybe")
    assert holds("BinaryEquals", "AAE=", b"\x00\x01") and not holds("BinaryEquals", "AAE=", b"\x00")
    assert holds("IpAddress", "10.0.0.0/8", "10.1.2.3") and not holds("IpAddress", "10.0.0.0/8", "11.0.0.1")
    assert holds("IpAddress", ["192.0.2.0/24", "10.0.0.0/8"], "10.1.2.3")
    assert not holds("IpAddress", "10.0.0.0/8", "not an address")
    assert holds("NotIpAddress", "10.0.0.0/8", "11.0.0.1") and not holds("NotIpAddress", "10.0.0.0/8", "10.0.0.1")


@pytest.mark.parametrize(
    ("values", "present", "expected"),
    [("true", False, True), ("true", True, False), ("false", True, True), ("false", False, False)],
)
def test_null_tests_presence(values: str, present: bool, expected: bool) -> None:
    assert holds("Null", values, "x" if present else None) is expected


# --- several context values and the set operators --------------------------------------------------


def test_a_plain_operator_with_several_context_values_is_a_hit_on_any() -> None:
    assert holds("StringEquals", "b", ["a", "b"])
    assert holds("StringEquals", "a", ["a", "b"])
    assert not holds("StringEquals", "c", ["a", "b"])
    assert not holds("StringNotEquals", "b", ["a", "b"])
    assert holds("StringNotEquals", "c", ["a", "b"])


@pytest.mark.parametrize(
    ("operator", "context_value", "expected"),
    [
        ("ForAllValues:StringEquals", ["a", "b"], True),
        ("ForAllValues:StringEquals", ["a", "z"], False),
        ("ForAllValues:StringNotEquals", ["y", "z"], True),
        ("ForAllValues:StringNotEquals", ["a", "z"], False),
        ("ForAnyValue:StringEquals", ["z", "b"], True),
        ("ForAnyValue:StringEquals", ["y", "z"], False),
        ("ForAnyValue:StringNotEquals", ["a", "z"], True),
        ("ForAnyValue:StringNotEquals", ["a", "b"], False),
    ],
)
def test_set_operators(operator: str, context_value: list[str], expected: bool) -> None:
    assert holds(operator, ["a", "b"], context_value) is expected


# --- parsing ---------------------------------------------------------------------------------------


def test_condition_keys_ignore_case() -> None:
    assert holds("StringEquals", "x", "x", key="AWS:UserName")
    condition = parse_condition("StringEquals", "AWS:UserName", "x", path="C", allow_variables=True)
    assert condition.lookup_key == "aws:username" and condition.key == "AWS:UserName"
    assert condition.holds(normalize_context({"aws:username": "x"}), [])


@pytest.mark.parametrize("key", ["aws:x", "a.b-c_1:x y", "aws:x\ny", "s3:prefix/*"])
def test_condition_key_shapes_accepted(key: str) -> None:
    parse_condition("StringEquals", key, "x", path="C", allow_variables=True)


@pytest.mark.parametrize("key", ["awsx", "aws: x", ":x", "a b:x", "aws:"])
def test_condition_key_shapes_refused(key: str) -> None:
    with pytest.raises(MalformedPolicyDocument, match="condition key must look like service:name"):
        parse_condition("StringEquals", key, "x", path="C", allow_variables=True)


def test_if_exists_only_completes_a_known_operator() -> None:
    with pytest.raises(MalformedPolicyDocument, match="unknown condition operator 'NoSuchIfExists'"):
        parse_condition("NoSuchIfExists", "k:a", "x", path="C", allow_variables=True)
    with pytest.raises(MalformedPolicyDocument, match="Null takes neither"):
        parse_condition("NullIfExists", "k:a", "true", path="C", allow_variables=True)


def test_a_condition_without_variables_keeps_no_templates() -> None:
    static = parse_condition("StringLike", "k:a", "x*", path="C", allow_variables=True)
    assert static.templates == () and static.static_test is not None
    dynamic = parse_condition("StringLike", "k:a", "${k:b}*", path="C", allow_variables=True)
    assert len(dynamic.templates) == 1 and dynamic.static_test is None
    null = parse_condition("Null", "k:a", "true", path="C", allow_variables=True)
    assert null.static_test is None


def test_a_missing_variable_reports_its_key() -> None:
    condition = parse_condition("StringEquals", "k:a", "${k:b}", path="C", allow_variables=True)
    missing: list[str] = []
    assert not condition.holds(normalize_context({"k:a": "x"}), missing)
    assert missing == ["k:b"]


def test_an_operator_name_must_end_in_if_exists_exactly() -> None:
    for name in ("StringEqualsIfExistz", "NumericLessThanABCDEFGH", "BoolXXXXXXXX"):
        with pytest.raises(MalformedPolicyDocument, match="unknown condition operator"):
            parse_condition(name, "k:a", "1", path="C", allow_variables=True)


def test_string_equals_with_text_around_a_variable() -> None:
    condition = parse_condition("StringEquals", "k:path", "team/${k:team}/x", path="C", allow_variables=True)
    assert condition.holds(normalize_context({"k:path": "team/red/x", "k:team": "red"}), [])
    assert not condition.holds(normalize_context({"k:path": "team/blue/x", "k:team": "red"}), [])


def test_a_resolved_test_is_kept_and_reused() -> None:
    condition = parse_condition("StringLike", "k:a", "home/${k:user}/*", path="C", allow_variables=True)
    context = normalize_context({"k:a": "home/alice/x", "k:user": "alice"})
    assert condition.holds(context, [])
    (first,) = condition.resolved_tests.values()
    assert callable(first)
    assert condition.holds(context, [])
    (again,) = condition.resolved_tests.values()
    assert again is first


def test_parsed_conditions_compare_by_what_they_say() -> None:
    """Two parses of one condition are equal, whatever was compiled or cached inside them."""
    first = parse_condition("StringLike", "k:a", "home/${k:user}/*", path="C", allow_variables=True)
    second = parse_condition("StringLike", "k:a", "home/${k:user}/*", path="C", allow_variables=True)
    assert first.holds(normalize_context({"k:a": "home/alice/x", "k:user": "alice"}), [])
    assert first == second
    static = [parse_condition("NumericLessThan", "k:n", "5", path="C", allow_variables=True) for _ in range(2)]
    assert static[0] == static[1] and static[0].static_test is not static[1].static_test
    assert parse_condition("StringEquals", "k:a", "x", path="C", allow_variables=True) != parse_condition(
        "StringEquals", "k:a", "y", path="C", allow_variables=True
    )


def test_operators_and_conditions_are_immutable() -> None:
    condition = parse_condition("StringEquals", "k:a", "x", path="C", allow_variables=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.key = "k:b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.operator.negated = True  # type: ignore[misc]


def test_the_operator_table() -> None:
    """Each operator's family (whose value prefixes its name) and the test it runs."""
    table = {name: (operator.family, operator.test, operator.negated) for name, operator in OPERATORS.items()}
    expected: dict[str, tuple[Family, str, bool]] = {
        "StringEquals": (Family.STRING, "eq", False),
        "StringNotEquals": (Family.STRING, "eq", True),
        "StringEqualsIgnoreCase": (Family.STRING, "eq_ci", False),
        "StringNotEqualsIgnoreCase": (Family.STRING, "eq_ci", True),
        "StringLike": (Family.STRING, "like", False),
        "StringNotLike": (Family.STRING, "like", True),
        "Bool": (Family.BOOL, "eq", False),
        "BinaryEquals": (Family.BINARY, "eq", False),
        "IpAddress": (Family.IP, "in", False),
        "NotIpAddress": (Family.IP, "in", True),
        "ArnEquals": (Family.ARN, "like", False),
        "ArnLike": (Family.ARN, "like", False),
        "ArnNotEquals": (Family.ARN, "like", True),
        "ArnNotLike": (Family.ARN, "like", True),
        "Null": (Family.NULL, "null", False),
    }
    for family in (Family.NUMERIC, Family.DATE):
        for suffix, test, negated in (
            ("Equals", "eq", False),
            ("NotEquals", "eq", True),
            ("LessThan", "lt", False),
            ("LessThanEquals", "le", False),
            ("GreaterThan", "gt", False),
            ("GreaterThanEquals", "ge", False),
        ):
            expected[f"{family.value}{suffix}"] = (family, test, negated)
    assert table == expected
    for name, operator in OPERATORS.items():
        assert name.removeprefix("Not").startswith(operator.family.value), name
