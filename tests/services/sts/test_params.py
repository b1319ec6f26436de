"""The STS parameter checks AssumeRole and AssumeRoleWithSAML share."""

from __future__ import annotations

import json
import re

import pytest

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.services.sts._params import (
    check_role_arn,
    matching,
    packed_policy_size,
    required_length,
    valid_policy_arns,
    valid_session_policy,
)

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def code_of(call: object, *args: object) -> str:
    with pytest.raises(AwsError) as refused:
        call(*args)  # type: ignore[operator]
    return refused.value.code


def test_required_length_names_the_parameter() -> None:
    assert required_length("roleArn", "abc", 1, 3) == "abc"
    with pytest.raises(AwsError, match="Value null at 'roleArn'"):
        required_length("roleArn", None, 1, 3)
    with pytest.raises(AwsError, match=r"Value 'abcd' at 'roleArn' .* length less than or equal to 3$"):
        required_length("roleArn", "abcd", 1, 3)
    with pytest.raises(AwsError, match=r"Value at 'sAMLAssertion' .* length greater than or equal to 4$"):
        required_length("sAMLAssertion", "abc", 4, 8, sensitive=True)


def test_matching_shows_the_pattern_as_aws_spells_it() -> None:
    matching("externalId", "abc", re.compile(r"[\w]*"))
    with pytest.raises(AwsError, match=re.escape(r"pattern: [\d]*")):
        matching("tokenCode", "12a", re.compile(r"[\d]*"))


def test_arns_and_policies() -> None:
    check_role_arn("arn:aws:iam::123456789012:role/Dev")
    assert code_of(check_role_arn, "arn:aws:iam::123456789012:user/Dev") == "ValidationError"
    assert valid_policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"]) == ("arn:aws:iam::aws:policy/ReadOnlyAccess",)
    assert code_of(valid_policy_arns, ["arn:aws:s3:::bucket"]) == "ValidationError"
    assert code_of(valid_policy_arns, ["arn:aws:iam::aws:policy/P"] * (limits.POLICY_ARNS_MAX + 1)) == (
        "ValidationError"
    )
    assert valid_session_policy(None, 10) is None
    assert valid_session_policy(POLICY, 2048) == POLICY
    assert code_of(valid_session_policy, '{"Statement": "nope"}', 2048) == "MalformedPolicyDocument"


def test_packed_policy_size_is_reported_only_for_sessions_that_carry_policies_or_tags() -> None:
    assert packed_policy_size(None, {}, []) is None
    assert packed_policy_size(None, {"team": "blue"}, []) == 1
    assert 0 < (packed_policy_size(POLICY, {}, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]) or 0) <= 100
    assert code_of(packed_policy_size, None, {f"k{i}": "v" * 256 for i in range(50)}, []) == "PackedPolicyTooLarge"
