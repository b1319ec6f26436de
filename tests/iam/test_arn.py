from __future__ import annotations

import contextlib
import string
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.iam.arn import (
    Arn,
    InvalidArn,
    account_root_arn,
    assumed_role_arn,
    aws_managed_policy_arn,
    group_arn,
    mfa_arn,
    parse_account_root_arn,
    parse_assumed_role_arn,
    parse_group_arn,
    parse_mfa_arn,
    parse_policy_arn,
    parse_role_arn,
    parse_saml_provider_arn,
    parse_user_arn,
    policy_arn,
    role_arn,
    saml_provider_arn,
    user_arn,
)

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (user_arn(ACCOUNT, "alice"), "arn:aws:iam::123456789012:user/alice"),
        (user_arn(ACCOUNT, "alice", "/eng/"), "arn:aws:iam::123456789012:user/eng/alice"),
        (group_arn(ACCOUNT, "Admins", "/a/b/"), "arn:aws:iam::123456789012:group/a/b/Admins"),
        (role_arn(ACCOUNT, "Deploy"), "arn:aws:iam::123456789012:role/Deploy"),
        (role_arn(ACCOUNT, "Deploy", "/ci/"), "arn:aws:iam::123456789012:role/ci/Deploy"),
        (policy_arn(ACCOUNT, "ReadOnly"), "arn:aws:iam::123456789012:policy/ReadOnly"),
        (policy_arn(ACCOUNT, "ReadOnly", "/team/"), "arn:aws:iam::123456789012:policy/team/ReadOnly"),
        (
            saml_provider_arn(ACCOUNT, "Okta_prod-1.x"),
            "arn:aws:iam::123456789012:saml-provider/Okta_prod-1.x",
        ),
        (mfa_arn(ACCOUNT, "alice-phone"), "arn:aws:iam::123456789012:mfa/alice-phone"),
        (mfa_arn(ACCOUNT, "alice-phone", "/p/"), "arn:aws:iam::123456789012:mfa/p/alice-phone"),
        (
            assumed_role_arn(ACCOUNT, "Deploy", "alice@example.com"),
            "arn:aws:sts::123456789012:assumed-role/Deploy/alice@example.com",
        ),
        (account_root_arn(ACCOUNT), "arn:aws:iam::123456789012:root"),
        (aws_managed_policy_arn("AdministratorAccess"), "arn:aws:iam::aws:policy/AdministratorAccess"),
        (
            aws_managed_policy_arn("AWSLambdaBasicExecutionRole", "/service-role/"),
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        ),
        (user_arn("012345678901", "x"), "arn:aws:iam::012345678901:user/x"),
    ],
)
def test_builders(built: str, expected: str) -> None:
    assert built == expected


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: role_arn("12345678901", "x"), "Invalid account id '12345678901'"),
        (lambda: role_arn("aws", "x"), "expected 12 digits"),
        (lambda: role_arn(ACCOUNT, "a/b"), "Invalid role name"),
        (lambda: role_arn(ACCOUNT, "x" * 65), "less than or equal to 64"),
        (lambda: role_arn(ACCOUNT, ""), "greater than or equal to 1"),
        (lambda: role_arn(ACCOUNT, "x", "eng"), "Invalid path"),
        (lambda: role_arn(ACCOUNT, "x", "/eng"), "Invalid path"),
        (lambda: user_arn(ACCOUNT, "al ice"), "Invalid user name"),
        (lambda: group_arn(ACCOUNT, "g" * 129), "Invalid group name"),
        (lambda: saml_provider_arn(ACCOUNT, "okta+x"), "Invalid SAML provider name"),
        (lambda: assumed_role_arn(ACCOUNT, "Deploy", "a"), "Invalid role session name"),
        (lambda: assumed_role_arn(ACCOUNT, "Deploy", "a/b"), "Invalid role session name"),
        (lambda: mfa_arn(ACCOUNT, "phone", "//"), "Invalid path"),
        (lambda: policy_arn(ACCOUNT, "p*"), "Invalid policy name"),
    ],
)
def test_builders_refuse_bad_parts(build: Callable[[], str], fragment: str) -> None:
    with pytest.raises(InvalidArn) as info:
        build()
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arn:aws:iam::123456789012:role/x", Arn("aws", "iam", "", "123456789012", "role/x")),
        ("arn:aws:s3:::bucket/key:with:colons", Arn("aws", "s3", "", "", "bucket/key:with:colons")),
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", Arn("aws", "iam", "", "aws", "policy/ReadOnlyAccess")),
        (
            "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/prod/GET/items",
            Arn("aws-us-gov", "execute-api", "us-gov-west-1", "123456789012", "abc/prod/GET/items"),
        ),
        (
            "arn:aws:sts::123456789012:assumed-role/R/s",
            Arn("aws", "sts", "", "123456789012", "assumed-role/R/s"),
        ),
    ],
)
def test_arn_parse(text: str, expected: Arn) -> None:
    parsed = Arn.parse(text)
    assert parsed == expected
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected 'arn:partition:service:region:account-id:resource'"),
        ("arn", "expected 'arn:partition"),
        ("arn:aws:iam::123456789012", "expected 'arn:partition"),
        ("ARN:aws:iam::123456789012:role/x", "expected 'arn:partition"),
        ("urn:aws:iam::123456789012:role/x", "expected 'arn:partition"),
        ("arn:azure:iam::123456789012:role/x", "unknown partition 'azure'"),
        ("arn::iam::123456789012:role/x", "unknown partition ''"),
        ("arn:AWS:iam::123456789012:role/x", "unknown partition"),
        ("arn:aws::us-east-1:123456789012:role/x", "invalid service ''"),
        ("arn:aws:IAM::123456789012:role/x", "invalid service 'IAM'"),
        ("arn:aws:iam:US-EAST-1:123456789012:role/x", "invalid region 'US-EAST-1'"),
        ("arn:aws:iam::12345678901:role/x", "the account id must be 12 digits, not '12345678901'"),
        ("arn:aws:iam::1234567890123:role/x", "must be 12 digits"),
        ("arn:aws:iam::12345678901x:role/x", "must be 12 digits"),
        ("arn:aws:iam::\uff11\uff12\uff13456789012:role/x", "must be 12 digits"),  # fullwidth digits
        ("arn:aws:iam::123456789012:", "the resource is empty"),
        ("arn:aws:iam::123456789012:role/x\n", "U+000A"),
        ("arn:aws:iam::123456789012:role/x y", "U+0020"),
        ("arn:aws:iam::123456789012:role/x\u202e", "U+202E"),  # right-to-left override
        ("arn:aws:iam::123456789012:role/x\u200b", "U+200B"),  # zero-width space
        ("arn:aws:iam::123456789012:role/x\x00", "U+0000"),
        ("arn:aws:iam::123456789012:role/" + "x" * 2048, "longer than 2048 characters"),
    ],
)
def test_arn_parse_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidArn) as info:
        Arn.parse(text)
    assert fragment in info.value.message
    assert str(info.value) == info.value.message


def test_arn_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidArn, match="expected a string"):
        Arn.parse(None)  # type: ignore[arg-type]


def test_messages_escape_and_shorten_hostile_text() -> None:
    with pytest.raises(InvalidArn) as info:
        Arn.parse("arn:aws:iam::123456789012:role/x\nFAKE LOG LINE" + "y" * 3000)
    assert "\n" not in info.value.message
    assert "\\u000a" in info.value.message
    assert len(info.value.message) < 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arn:aws:iam::123456789012:role/Deploy", ("123456789012", "/", "Deploy")),
        ("arn:aws:iam::123456789012:role/ci/Deploy", ("123456789012", "/ci/", "Deploy")),
        ("arn:aws:iam::123456789012:role/a/b/c/Deploy", ("123456789012", "/a/b/c/", "Deploy")),
        ("arn:aws:iam::123456789012:role/weird!path~/D", ("123456789012", "/weird!path~/", "D")),
        ("arn:aws:iam::123456789012:role/" + "r" * 64, ("123456789012", "/", "r" * 64)),
        ("arn:aws:iam::012345678901:role/x+=,.@_-", ("012345678901", "/", "x+=,.@_-")),
    ],
)
def test_parse_role_arn(text: str, expected: tuple[str, str, str]) -> None:
    assert parse_role_arn(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("arn:aws:sts::123456789012:role/x", "the service must be 'iam', not 'sts'"),
        ("arn:aws:iam:us-east-1:123456789012:role/x", "IAM ARNs have no region"),
        ("arn:aws-cn:iam::123456789012:role/x", "the partition must be 'aws'"),
        ("arn:aws:iam::aws:role/x", "the account id must be 12 digits"),
        ("arn:aws:iam:::role/x", "the account id must be 12 digits"),
        ("arn:aws:iam::123456789012:user/x", "the resource must start with 'role/'"),
        ("arn:aws:iam::123456789012:Role/x", "the resource must start with 'role/'"),
        ("arn:aws:iam::123456789012:role", "the resource must start with 'role/'"),
        ("arn:aws:iam::123456789012:role/", "greater than or equal to 1"),
        ("arn:aws:iam::123456789012:role/eng/", "greater than or equal to 1"),
        ("arn:aws:iam::123456789012:role//x", "at 'path' failed"),
        ("arn:aws:iam::123456789012:role/" + "r" * 65, "less than or equal to 64"),
        ("arn:aws:iam::123456789012:role/a*b", "regular expression pattern"),
        ("arn:aws:iam::123456789012:role/r\u00f4le", "regular expression pattern"),  # \w is ASCII in AWS
        ("arn:aws:iam::123456789012:role/" + "p/" * 256 + "x", "less than or equal to 512"),
        ("arn:aws:iam::123456789012:role/a\x7f/x", "U+007F"),
    ],
)
def test_parse_role_arn_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidArn) as info:
        parse_role_arn(text)
    assert fragment in info.value.message


def test_other_pathed_parsers() -> None:
    assert parse_user_arn("arn:aws:iam::123456789012:user/eng/alice") == ("123456789012", "/eng/", "alice")
    assert parse_group_arn("arn:aws:iam::123456789012:group/Admins") == ("123456789012", "/", "Admins")
    assert parse_mfa_arn("arn:aws:iam::123456789012:mfa/alice") == ("123456789012", "/", "alice")
    assert parse_policy_arn("arn:aws:iam::123456789012:policy/p/ReadOnly") == (
        "123456789012",
        "/p/",
        "ReadOnly",
    )
    assert parse_policy_arn("arn:aws:iam::aws:policy/service-role/X") == ("aws", "/service-role/", "X")
    with pytest.raises(InvalidArn, match="must start with 'user/'"):
        parse_user_arn("arn:aws:iam::123456789012:role/alice")
    with pytest.raises(InvalidArn, match="12 digits"):
        parse_user_arn("arn:aws:iam::aws:user/alice")  # only policies belong to "aws"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arn:aws:iam::123456789012:saml-provider/Okta", ("123456789012", "Okta")),
        ("arn:aws:iam::123456789012:saml-provider/a.b_c-d", ("123456789012", "a.b_c-d")),
        ("arn:aws:iam::123456789012:saml-provider/" + "n" * 128, ("123456789012", "n" * 128)),
    ],
)
def test_parse_saml_provider_arn(text: str, expected: tuple[str, str]) -> None:
    assert parse_saml_provider_arn(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("arn:aws:iam::123456789012:saml-provider/", "greater than or equal to 1"),
        ("arn:aws:iam::123456789012:saml-provider/a/b", "regular expression pattern: [\\w._-]+"),
        ("arn:aws:iam::123456789012:saml-provider/a+b", "regular expression pattern"),
        ("arn:aws:iam::123456789012:saml-provider/" + "n" * 129, "less than or equal to 128"),
        ("arn:aws:iam::123456789012:role/Okta", "must start with 'saml-provider/'"),
        ("arn:aws:iam::123456789012:oidc-provider/x", "must start with 'saml-provider/'"),
        ("arn:aws:sts::123456789012:saml-provider/Okta", "the service must be 'iam'"),
        # The two halves of the SAML Role attribute, pasted into one value.
        (
            "arn:aws:iam::123456789012:saml-provider/Okta,arn:aws:iam::123456789012:role/x",
            "regular expression pattern",
        ),
    ],
)
def test_parse_saml_provider_arn_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidArn) as info:
        parse_saml_provider_arn(text)
    assert fragment in info.value.message


def test_parse_assumed_role_arn() -> None:
    assert parse_assumed_role_arn("arn:aws:sts::123456789012:assumed-role/Deploy/alice@example.com") == (
        "123456789012",
        "Deploy",
        "alice@example.com",
    )
    for bad, fragment in [
        ("arn:aws:iam::123456789012:assumed-role/Deploy/s1", "the service must be 'sts'"),
        ("arn:aws:sts::123456789012:assumed-role/Deploy", "'assumed-role/ROLE-NAME/SESSION-NAME'"),
        ("arn:aws:sts::123456789012:assumed-role/eng/Deploy/s1", "'assumed-role/ROLE-NAME/SESSION-NAME'"),
        ("arn:aws:sts::123456789012:federated-user/bob", "'assumed-role/ROLE-NAME/SESSION-NAME'"),
        ("arn:aws:sts::123456789012:assumed-role/Deploy/s", "greater than or equal to 2"),
    ]:
        with pytest.raises(InvalidArn) as info:
            parse_assumed_role_arn(bad)
        assert fragment in info.value.message


def test_parse_account_root_arn() -> None:
    assert parse_account_root_arn("arn:aws:iam::123456789012:root") == "123456789012"
    with pytest.raises(InvalidArn, match="must be 'root'"):
        parse_account_root_arn("arn:aws:iam::123456789012:user/root")


# --- Properties --------------------------------------------------------------------------

_name_chars = string.ascii_letters + string.digits + "+=,.@_-"
_names = st.text(_name_chars, min_size=1, max_size=64)
_segments = st.text("".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "/"), min_size=1, max_size=8)
_paths = st.lists(_segments, max_size=4).map(lambda parts: "/" + "".join(p + "/" for p in parts))
_accounts = st.text(string.digits, min_size=12, max_size=12)


@given(account=_accounts, name=_names, path=_paths)
def test_role_arn_round_trips(account: str, name: str, path: str) -> None:
    assert parse_role_arn(role_arn(account, name, path)) == (account, path, name)
    assert parse_user_arn(user_arn(account, name, path)) == (account, path, name)
    assert parse_policy_arn(policy_arn(account, name, path)) == (account, path, name)


@given(account=_accounts, role=_names, session=st.text(_name_chars, min_size=2, max_size=64))
def test_assumed_role_arn_round_trips(account: str, role: str, session: str) -> None:
    assert parse_assumed_role_arn(assumed_role_arn(account, role, session)) == (account, role, session)


@settings(max_examples=300)
@given(text=st.text(max_size=120) | st.text(max_size=60).map(lambda s: "arn:aws:iam::123456789012:" + s))
def test_parsers_raise_only_invalid_arn(text: str) -> None:
    for parse in (Arn.parse, parse_role_arn, parse_saml_provider_arn, parse_assumed_role_arn):
        with contextlib.suppress(InvalidArn):
            parse(text)
