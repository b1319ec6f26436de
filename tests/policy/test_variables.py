"""Policy variables: parsing into templates and substitution."""

from __future__ import annotations

import pytest

from broker.policy import MalformedPolicyDocument
from broker.policy.variables import LITERAL, TEXT, VARIABLE, parse_template, plain_template


def test_text_without_variables_is_one_piece() -> None:
    template = parse_template("arn:aws:s3:::b/*", allow_variables=True, path="p")
    assert template.pieces == ((TEXT, "arn:aws:s3:::b/*", None),)
    assert not template.has_variables


def test_variables_disabled_keep_the_text() -> None:
    template = parse_template("b/${aws:username}", allow_variables=False, path="p")
    assert template == plain_template("b/${aws:username}")


def test_pieces_of_a_mixed_template() -> None:
    template = parse_template("a/${aws:username}/${*}/${aws:PrincipalTag/team, 'none'}", allow_variables=True, path="p")
    assert template.pieces == (
        (TEXT, "a/", None),
        (VARIABLE, "aws:username", None),
        (TEXT, "/", None),
        (LITERAL, "*", None),
        (TEXT, "/", None),
        (VARIABLE, "aws:PrincipalTag/team", "none"),
    )
    assert template.variable_keys() == ("aws:username", "aws:PrincipalTag/team")


def test_resolve_substitutes_literally_and_reports_missing_keys() -> None:
    template = parse_template("h/${aws:username}/*", allow_variables=True, path="p")
    assert template.resolve({"aws:username": ("a*",)}) == (("h/", True), ("a*", False), ("/*", True))
    missing: list[str] = []
    assert template.resolve({}, missing) is None
    assert missing == ["aws:username"]


def test_lookup_ignores_case_of_the_variable_name() -> None:
    template = parse_template("${AWS:UserName}", allow_variables=True, path="p")
    assert template.variable_values({"aws:username": ("alice",)}) == ("alice",)


def test_multi_valued_key_is_not_substituted_but_default_applies() -> None:
    template = parse_template("${aws:username, 'x'}", allow_variables=True, path="p")
    assert template.variable_values({"aws:username": ("a", "b")}) == ("x",)


def test_non_string_values_are_converted() -> None:
    template = parse_template("${aws:MultiFactorAuthPresent}-${aws:EpochTime}", allow_variables=True, path="p")
    assert template.variable_values({"aws:multifactorauthpresent": (True,), "aws:epochtime": (17,)}) == (
        "true",
        "17",
    )


def test_whitespace_inside_the_braces_is_allowed() -> None:
    template = parse_template("${ aws:username , 'anon' }", allow_variables=True, path="p")
    assert template.variable_values({}) == ("anon",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${aws:username", "p: malformed policy variable at character 1"),
        ("x${}", "p: malformed policy variable at character 2"),
        ("${username}", "p: policy variable ${username} is not a condition key"),
        ("${?, 'a'}", "p: the escape ${?} takes no default value"),
        ('${aws:username, "a"}', "p: malformed policy variable"),
    ],
)
def test_malformed_variables_are_rejected_with_the_place(text: str, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_template(text, allow_variables=True, path="p")
    assert str(caught.value).startswith(message)
