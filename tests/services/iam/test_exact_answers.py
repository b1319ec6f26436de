"""AWS's exact answers (issue 18): response shapes and error wording that tools compare verbatim."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.aws import (  # module_broker, module_iam: the "broker" and "iam" fixtures
    ACCOUNT,
    allow,
    client,
    document,
    error,
    module_broker,  # noqa: F401
    module_iam,  # noqa: F401
    user_with_key,
)
from tests.support.brokers import LiveBroker

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/"


def trust(principal: str, *actions: str) -> str:
    return document({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions) or "sts:AssumeRole"})


def test_create_role_answers_without_max_session_duration(iam: Any) -> None:
    created = iam.create_role(RoleName="shape", AssumeRolePolicyDocument=trust(ACCOUNT), MaxSessionDuration=7200)
    role = created["Role"]
    assert "MaxSessionDuration" not in role and "RoleLastUsed" not in role
    assert set(role) == {"Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument"}
    fetched = iam.get_role(RoleName="shape")["Role"]
    assert fetched["MaxSessionDuration"] == 7200 and fetched["RoleLastUsed"] == {}


@pytest.mark.parametrize("verb", ["attach", "detach"])
@pytest.mark.parametrize("kind", ["user", "role", "group"])
def test_unparseable_policy_arn_on_attach_and_detach(iam: Any, verb: str, kind: str) -> None:
    name = f"arn-{verb}-{kind}"
    if kind == "user":
        iam.create_user(UserName=name)
    elif kind == "group":
        iam.create_group(GroupName=name)
    else:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(ACCOUNT))
    call = getattr(iam, f"{verb}_{kind}_policy")
    target = {f"{kind.capitalize()}Name": name}
    assert error(call, PolicyArn="this-text-is-not-an-arn-at-all", **target) == (
        "ValidationError",
        "Invalid ARN:  Could not be parsed!",
    )
    # An ARN, but not a policy's: IAM's InvalidInput, as before.
    wrong_kind = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert error(call, PolicyArn=wrong_kind, **target) == ("InvalidInput", f"ARN {wrong_kind} is not valid.")


def test_trust_policy_that_is_not_json(iam: Any) -> None:
    invalid = ("MalformedPolicyDocument", "This policy contains invalid Json")
    assert error(iam.create_role, RoleName="badjson", AssumeRolePolicyDocument="{not json") == invalid
    iam.create_role(RoleName="goodjson", AssumeRolePolicyDocument=trust(ACCOUNT))
    assert error(iam.update_assume_role_policy, RoleName="goodjson", PolicyDocument='{"Version": ') == invalid
    iam.create_user(UserName="jsonless")
    assert error(iam.put_user_policy, UserName="jsonless", PolicyName="p", PolicyDocument="[1,") == invalid
    # JSON that is not a valid policy keeps its precise message.
    code_, message = error(iam.create_role, RoleName="badjson", AssumeRolePolicyDocument='{"Version": "2012-10-17"}')
    assert code_ == "MalformedPolicyDocument" and message != invalid[1]


def test_assume_role_with_an_invalid_role_arn(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "arn-caller", policy=document(allow("sts:AssumeRole")))
    sts = client(broker, "sts", key, secret)
    for bad in ("arn:aws:iam::123456789012:user/someone", "not-a-role-arn-at-all", f"{ROLE_ARN}bad name"):
        assert error(sts.assume_role, RoleArn=bad, RoleSessionName="s1") == ("ValidationError", f"{bad} is invalid")


def test_session_tag_keys_differing_in_case(broker: LiveBroker, iam: Any) -> None:
    caller_arn = f"arn:aws:iam::{ACCOUNT}:user/tag-caller"
    key, secret = user_with_key(iam, "tag-caller", policy=document(allow(["sts:AssumeRole", "sts:TagSession"])))
    iam.create_role(RoleName="tagged", AssumeRolePolicyDocument=trust(caller_arn, "sts:AssumeRole", "sts:TagSession"))
    sts = client(broker, "sts", key, secret)
    tags = [{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]
    assert error(sts.assume_role, RoleArn=ROLE_ARN + "tagged", RoleSessionName="s1", Tags=tags) == (
        "InvalidParameterValue",
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
    )


def test_session_tag_colliding_with_an_inherited_transitive_tag(broker: LiveBroker, iam: Any) -> None:
    caller_arn = f"arn:aws:iam::{ACCOUNT}:user/chain-caller"
    key, secret = user_with_key(iam, "chain-caller", policy=document(allow(["sts:AssumeRole", "sts:TagSession"])))
    first_trust = trust(caller_arn, "sts:AssumeRole", "sts:TagSession")
    iam.create_role(RoleName="chain-one", AssumeRolePolicyDocument=first_trust)
    iam.put_role_policy(
        RoleName="chain-one", PolicyName="hop", PolicyDocument=document(allow(["sts:AssumeRole", "sts:TagSession"]))
    )
    iam.create_role(
        RoleName="chain-two", AssumeRolePolicyDocument=trust(ROLE_ARN + "chain-one", "sts:AssumeRole", "sts:TagSession")
    )
    sts = client(broker, "sts", key, secret)
    first = sts.assume_role(
        RoleArn=ROLE_ARN + "chain-one",
        RoleSessionName="hop1",
        Tags=[{"Key": "project", "Value": "apollo"}],
        TransitiveTagKeys=["project"],
    )["Credentials"]
    chained = client(broker, "sts", first["AccessKeyId"], first["SecretAccessKey"], first["SessionToken"])
    collision = [{"Key": "PROJECT", "Value": "gemini"}]
    assert error(chained.assume_role, RoleArn=ROLE_ARN + "chain-two", RoleSessionName="hop2", Tags=collision) == (
        "InvalidParameterValue",
        "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key "
        "from the calling session.",
    )
    assert chained.assume_role(RoleArn=ROLE_ARN + "chain-two", RoleSessionName="hop2")["Credentials"]


POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
    indent=2,
)


def test_simulate_custom_policy_result_shape(iam: Any) -> None:
    [result] = iam.simulate_custom_policy(
        PolicyInputList=[POLICY], ActionNames=["s3:GetObject"], ResourceArns=["arn:aws:s3:::bucket/key"]
    )["EvaluationResults"]
    assert result["EvalDecision"] == "allowed"
    [statement] = result["MatchedStatements"]
    assert statement["SourcePolicyId"] == "PolicyInputList.1" and statement["SourcePolicyType"] == "IAM Policy"
    # Lines and columns count from 1: the statement's "{" opens line 4 at column 5.
    assert statement["StartPosition"] == {"Line": 4, "Column": 5}
    assert statement["EndPosition"] == {"Line": 8, "Column": 5}
    # Not a cross-account simulation: no EvalDecisionDetails; organizations and per-resource results present.
    assert "EvalDecisionDetails" not in result
    assert result["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert result["ResourceSpecificResults"] == [
        {
            "EvalResourceName": "arn:aws:s3:::bucket/key",
            "EvalResourceDecision": "allowed",
            "MatchedStatements": result["MatchedStatements"],
            "MissingContextValues": [],
        }
    ]


def test_simulation_details_cross_account_decisions(iam: Any) -> None:
    resource_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
                    "Action": "s3:GetObject",
                    "Resource": "*",
                }
            ],
        }
    )
    [result] = iam.simulate_custom_policy(
        PolicyInputList=[POLICY],
        ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::other/key"],
        ResourcePolicy=resource_policy,
        ResourceOwner="arn:aws:iam::210987654321:root",
        CallerArn=f"arn:aws:iam::{ACCOUNT}:user/alice",
    )["EvaluationResults"]
    assert result["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "allowed"}
    assert sorted((m["SourcePolicyId"], m["SourcePolicyType"]) for m in result["MatchedStatements"]) == [
        ("PolicyInputList.1", "IAM Policy"),
        ("ResourcePolicy.1", "resource"),
    ]
