from __future__ import annotations

from collections.abc import Callable

import pytest

from broker.iam.errors import AwsError
from broker.iam.names import (
    ValidationError,
    constraint_violation,
    name_key,
    validate_account_alias,
    validate_authentication_code,
    validate_duration_seconds,
    validate_group_name,
    validate_max_session_duration,
    validate_mfa_device_name,
    validate_path,
    validate_policy_name,
    validate_policy_path,
    validate_role_description,
    validate_role_name,
    validate_role_session_name,
    validate_saml_provider_name,
    validate_serial_number,
    validate_source_identity,
    validate_tag_key,
    validate_tag_value,
    validate_tags,
    validate_user_name,
)

Validator = Callable[[str], str]

VALID: list[tuple[Validator, str]] = [
    (validate_user_name, "alice"),
    (validate_user_name, "a"),
    (validate_user_name, "u" * 64),
    (validate_user_name, "first.last+tag=1,x@example-corp_2"),
    (validate_role_name, "Deploy"),
    (validate_role_name, "r" * 64),
    (validate_group_name, "g" * 128),
    (validate_policy_name, "p" * 128),
    (validate_mfa_device_name, "alice-phone"),
    (validate_saml_provider_name, "Okta_prod-1.x"),
    (validate_saml_provider_name, "s" * 128),
    (validate_role_session_name, "ab"),
    (validate_role_session_name, "alice@example.com"),
    (validate_role_session_name, "s" * 64),
    (validate_source_identity, "alice+admin=1,x"),
    (validate_path, "/"),
    (validate_path, "/eng/"),
    (validate_path, "/a/b/c/"),
    (validate_path, "/!~#$%&'()*+,-.:;<=>?@[]^_`{|}/"),
    (validate_path, "///"),  # AWS's pattern allows '/' inside, so empty segments pass
    (validate_path, "/" + "p" * 510 + "/"),
    (validate_policy_path, "/"),
    (validate_policy_path, "/service-role/"),
    (validate_role_description, ""),
    (validate_role_description, "Deploys things\tto prod; caf\u00e9"),
    (validate_account_alias, "my-company"),
    (validate_tag_key, "Cost Center"),
    (validate_tag_key, "team:owner/name=x+y-z@w_v.u"),
    (validate_tag_key, "\u043a\u043b\u044e\u0447"),  # Cyrillic letters are \p{L}
    (validate_tag_key, "\u0663"),  # Arabic-Indic digit three is \p{N}
    (validate_tag_key, "k" * 128),
    (validate_tag_key, "awsome"),  # only the "aws:" prefix is reserved
    (validate_tag_value, ""),
    (validate_tag_value, "v" * 256),
    (validate_tag_value, "Research and Development: 2024/Q1"),
]


@pytest.mark.parametrize(("validate", "value"), VALID)
def test_valid_values_pass_through(validate: Validator, value: str) -> None:
    assert validate(value) == value


@pytest.mark.parametrize(
    ("validate", "value", "message"),
    [
        (
            validate_role_name,
            "r" * 65,
            "1 validation error detected: Value '" + "r" * 65 + "' at 'roleName' failed to satisfy constraint: "
            "Member must have length less than or equal to 64",
        ),
        (
            validate_role_name,
            "",
            "2 validation errors detected: Value '' at 'roleName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1; Value '' at 'roleName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        ),
        (
            validate_user_name,
            "al ice",
            "1 validation error detected: Value 'al ice' at 'userName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        ),
        (
            validate_role_session_name,
            "a",
            "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 2",
        ),
        (
            validate_path,
            "eng",
            "1 validation error detected: Value 'eng' at 'path' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ),
    ],
)
def test_messages_read_like_aws(validate: Validator, value: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate(value)
    assert info.value.message == message
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("validate", "value", "constraint"),
    [
        (validate_user_name, "u" * 65, "length less than or equal to 64"),
        (validate_user_name, "r\u00f4le", "regular expression pattern"),  # AWS's \w is ASCII
        (validate_user_name, "a/b", "regular expression pattern"),
        (validate_user_name, "a*b", "regular expression pattern"),
        (validate_user_name, "a\nb", "regular expression pattern"),
        (validate_user_name, "\uff41", "regular expression pattern"),  # fullwidth a
        (validate_group_name, "g" * 129, "length less than or equal to 128"),
        (validate_policy_name, "p" * 129, "length less than or equal to 128"),
        (validate_policy_name, "a b", "regular expression pattern"),
        (validate_saml_provider_name, "okta+prod", "pattern: [\\w._-]+"),
        (validate_saml_provider_name, "okta@prod", "pattern: [\\w._-]+"),
        (validate_saml_provider_name, "s" * 129, "length less than or equal to 128"),
        (validate_role_session_name, "s" * 65, "length less than or equal to 64"),
        (validate_role_session_name, "alice smith", "pattern: [\\w+=,.@-]*"),
        (validate_role_session_name, "a/b", "pattern"),
        (validate_source_identity, "x", "length greater than or equal to 2"),
        (validate_source_identity, "s" * 65, "length less than or equal to 64"),
        (validate_source_identity, "a:b", "pattern"),
        (validate_path, "", "length greater than or equal to 1"),
        (validate_path, "/eng", "pattern"),
        (validate_path, "eng/", "pattern"),
        (validate_path, "//", "pattern"),
        (validate_path, "/a b/", "pattern"),  # U+0020 is outside U+0021..U+007E
        (validate_path, "/a\x7f/", "pattern"),  # DEL: AWS's prose allows it, its pattern does not
        (validate_path, "/caf\u00e9/", "pattern"),
        (validate_path, "/" + "p" * 511 + "/", "length less than or equal to 512"),
        (validate_policy_path, "/a!b/", "pattern"),
        (validate_policy_path, "/a//", "pattern"),
        (validate_role_description, "d" * 1001, "length less than or equal to 1000"),
        (validate_role_description, "bell\x07", "pattern"),
        (validate_account_alias, "My-Company", "pattern"),
        (validate_account_alias, "a--b", "pattern"),
        (validate_account_alias, "ab", "length greater than or equal to 3"),
        (validate_tag_key, "", "length greater than or equal to 1"),
        (validate_tag_key, "k" * 129, "length less than or equal to 128"),
        (validate_tag_key, "a#b", "pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"),
        (validate_tag_key, "a\tb", "pattern"),
        (validate_tag_key, "aws:cost", "must not start with 'aws:'"),
        (validate_tag_key, "AWS:cost", "must not start with 'aws:'"),
        (validate_tag_value, "v" * 257, "length less than or equal to 256"),
        (validate_tag_value, "a;b", "pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"),
        (validate_tag_value, "emoji \U0001f600", "pattern"),  # So, not L/Z/N
    ],
)
def test_invalid_values(validate: Validator, value: str, constraint: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate(value)
    assert constraint in info.value.message
    assert info.value.message.startswith(("1 validation error detected: ", "2 validation errors detected: "))


def test_validation_error_is_the_aws_error() -> None:
    with pytest.raises(AwsError) as info:
        validate_role_name("x" * 100)
    assert info.value.code == "ValidationError"
    assert info.value.status == 400
    assert info.value.type == "Sender"


def test_field_name_is_configurable() -> None:
    with pytest.raises(ValidationError, match="at 'RoleSessionName'"):
        validate_role_session_name("a", field="RoleSessionName")


def test_null_is_reported() -> None:
    with pytest.raises(ValidationError) as info:
        validate_role_name(None)
    assert info.value.message == (
        "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"
    )


def test_echoed_values_are_escaped_and_shortened() -> None:
    violation = constraint_violation("x\r\nInjected: yes" + "y" * 1000, "roleName", "must be short")
    assert "\r" not in violation
    assert "\n" not in violation
    assert "\\u000d\\u000a" in violation
    assert "..." in violation
    assert len(violation) < 400


def test_combine_collects_every_violation() -> None:
    with pytest.raises(ValidationError) as role_name:
        validate_role_name("")
    with pytest.raises(ValidationError) as path:
        validate_path("x")
    combined = ValidationError.combine([role_name.value, path.value])
    assert combined.message.startswith("3 validation errors detected: ")
    assert len(combined.violations) == 3


def test_name_key_is_case_insensitive() -> None:
    assert name_key("Admin") == name_key("ADMIN") == name_key("admin")
    assert name_key("Admin") != name_key("Admins")


def test_validate_tags() -> None:
    assert validate_tags([("Team", "a"), ("Cost Center", "")]) == {"Team": "a", "Cost Center": ""}
    with pytest.raises(ValidationError, match="must be unique"):
        validate_tags([("Team", "a"), ("team", "b")])
    with pytest.raises(ValidationError, match="less than or equal to 50"):
        validate_tags([(f"k{i}", "v") for i in range(51)])
    with pytest.raises(ValidationError) as info:
        validate_tags([("aws:x", "v"), ("ok", "bad;value")], field="Tags")
    assert len(info.value.violations) == 2
    assert "at 'Tags.1.member.key'" in info.value.message
    assert "at 'Tags.2.member.value'" in info.value.message


@pytest.mark.parametrize(
    ("validate", "value", "fragment"),
    [
        (validate_duration_seconds, 899, "Member must have value greater than or equal to 900"),
        (validate_duration_seconds, 43201, "Member must have value less than or equal to 43200"),
        (validate_max_session_duration, 3599, "at 'maxSessionDuration'"),
        (validate_max_session_duration, 43201, "less than or equal to 43200"),
    ],
)
def test_integer_ranges(validate: Callable[[int], int], value: int, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate(value)
    assert fragment in info.value.message


def test_integer_range_bounds_are_inclusive() -> None:
    assert validate_duration_seconds(900) == 900
    assert validate_duration_seconds(43200) == 43200
    assert validate_max_session_duration(3600) == 3600


def test_mfa_serial_numbers_and_codes() -> None:
    assert validate_serial_number("arn:aws:iam::123456789012:mfa/alice") == "arn:aws:iam::123456789012:mfa/alice"
    assert validate_authentication_code("012345", "authenticationCode1") == "012345"
    with pytest.raises(ValidationError) as short:
        validate_serial_number("GAHT1234")
    assert short.value.message == (
        "1 validation error detected: Value 'GAHT1234' at 'serialNumber' failed to satisfy constraint: "
        "Member must have length greater than or equal to 9"
    )
    with pytest.raises(ValidationError, match=r"pattern: \[\\w\+=/:,\.@-\]\+"):
        validate_serial_number("arn:aws:iam::123456789012:mfa/a b")
    with pytest.raises(ValidationError) as code:
        validate_authentication_code("12a45", "tokenCode")
    assert code.value.violations == (
        "Value '12a45' at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6",
        "Value '12a45' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "[\\d]+",
    )
