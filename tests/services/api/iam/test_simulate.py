"""SimulateCustomPolicy through boto3 and the AWS CLI against a live broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from broker.services.setup import bootstrap_admin
from tests.support.aws import client as aws_client
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings

NO_RETRIES = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadTeamBucket",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::team-${aws:username}", "arn:aws:s3:::team-${aws:username}/*"],
            },
            {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"},
            {
                "Sid": "FromOffice",
                "Effect": "Allow",
                "Action": "ec2:StartInstances",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            },
        ],
    },
    indent=2,
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[LiveBroker]:
    workdir = tmp_path_factory.mktemp("sim")
    port = free_port()
    settings = make_settings(workdir, keys_dir, f"sqlite:///{workdir / 'b.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


@pytest.fixture(scope="module")
def iam(broker: LiveBroker) -> object:
    admin = bootstrap_admin(broker.runtime)
    return boto3.client(
        "iam",
        endpoint_url=broker.url,
        region_name="us-east-1",
        config=NO_RETRIES,
        aws_access_key_id=admin.access_key_id,
        aws_secret_access_key=admin.secret_access_key,
    )


def results(iam: object, **kwargs: object) -> dict[tuple[str, str], dict[str, object]]:
    response = iam.simulate_custom_policy(PolicyInputList=[POLICY], **kwargs)  # type: ignore[attr-defined]
    return {(r["EvalActionName"], r["EvalResourceName"]): r for r in response["EvaluationResults"]}


def test_decisions_with_matched_statements_and_positions(iam: object) -> None:
    found = results(
        iam,
        ActionNames=["s3:GetObject", "s3:DeleteObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::team-alice/report.csv"],
        ContextEntries=[{"ContextKeyName": "aws:username", "ContextKeyValues": ["alice"], "ContextKeyType": "string"}],
    )
    get = found[("s3:GetObject", "arn:aws:s3:::team-alice/report.csv")]
    assert get["EvalDecision"] == "allowed"
    [statement] = get["MatchedStatements"]  # type: ignore[misc]
    assert statement["SourcePolicyId"] == "PolicyInputList.1"
    assert statement["SourcePolicyType"] == "IAM Policy"
    assert statement["StartPosition"] == {"Line": 4, "Column": 5}
    assert found[("s3:DeleteObject", "arn:aws:s3:::team-alice/report.csv")]["EvalDecision"] == "explicitDeny"
    assert found[("s3:PutObject", "arn:aws:s3:::team-alice/report.csv")]["EvalDecision"] == "implicitDeny"


def test_missing_context_values_are_reported(iam: object) -> None:
    found = results(iam, ActionNames=["ec2:StartInstances"])
    start = found[("ec2:StartInstances", "*")]
    assert start["EvalDecision"] == "implicitDeny"
    assert start["MissingContextValues"] == ["aws:SourceIp"]
    allowed = results(
        iam,
        ActionNames=["ec2:StartInstances"],
        ContextEntries=[
            {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["203.0.113.7"], "ContextKeyType": "ip"}
        ],
    )
    assert allowed[("ec2:StartInstances", "*")]["EvalDecision"] == "allowed"


def test_permissions_boundary_detail(iam: object) -> None:
    boundary = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    )
    found = results(
        iam,
        ActionNames=["s3:GetObject", "s3:ListBucket"],
        ResourceArns=["arn:aws:s3:::team-bob"],
        PermissionsBoundaryPolicyInputList=[boundary],
        ContextEntries=[{"ContextKeyName": "aws:username", "ContextKeyValues": ["bob"], "ContextKeyType": "string"}],
    )
    get = found[("s3:GetObject", "arn:aws:s3:::team-bob")]
    assert get["EvalDecision"] == "implicitDeny"
    assert get["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    listing = found[("s3:ListBucket", "arn:aws:s3:::team-bob")]
    assert listing["EvalDecision"] == "allowed"


def test_pagination(iam: object) -> None:
    actions = [f"s3:Get{n}" for n in ("Object", "ObjectAcl", "Bucket", "BucketAcl", "BucketPolicy")]
    first = iam.simulate_custom_policy(PolicyInputList=[POLICY], ActionNames=actions, MaxItems=2)  # type: ignore[attr-defined]
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 2
    rest = iam.simulate_custom_policy(
        PolicyInputList=[POLICY],
        ActionNames=actions,
        MaxItems=10,  # type: ignore[attr-defined]
        Marker=first["Marker"],
    )
    assert rest["IsTruncated"] is False and len(rest["EvaluationResults"]) == 3


@pytest.mark.parametrize("max_items", [0, -1, 1001])
def test_max_items_is_1_to_1000(broker: LiveBroker, max_items: int) -> None:
    # 0 was read as "not given" and answered with the default 100.
    admin = bootstrap_admin(broker.runtime)
    unchecked = aws_client(broker, "iam", admin.access_key_id, admin.secret_access_key)  # botocore refuses 0 itself
    with pytest.raises(ClientError) as raised:
        unchecked.simulate_custom_policy(PolicyInputList=[POLICY], ActionNames=["s3:GetObject"], MaxItems=max_items)
    assert raised.value.response["Error"]["Code"] == "ValidationError"


@pytest.mark.parametrize("marker", ["\u00b2", "\u0661", "-1", "99", "1" * 40, "x"])
def test_a_marker_that_is_not_one_of_ours_is_invalid_input(iam: object, marker: str) -> None:
    with pytest.raises(ClientError) as raised:
        iam.simulate_custom_policy(PolicyInputList=[POLICY], ActionNames=["s3:GetObject"], Marker=marker)  # type: ignore[attr-defined]
    assert raised.value.response["Error"]["Code"] == "InvalidInput"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_malformed_input_policy(iam: object) -> None:
    with pytest.raises(ClientError) as raised:
        iam.simulate_custom_policy(
            PolicyInputList=['{"Version":"2012-10-17","Statement":[{"Effect":"Perhaps"}]}'],  # type: ignore[attr-defined]
            ActionNames=["s3:GetObject"],
        )
    assert raised.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    assert "PolicyInputList.1" in raised.value.response["Error"]["Message"]


def test_aws_cli_simulate_custom_policy(broker: LiveBroker, tmp_path: Path) -> None:
    admin = bootstrap_admin(broker.runtime)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": broker.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": admin.access_key_id,
        "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps([POLICY]))  # a list parameter: the CLI reads a JSON list
    aws = str(Path(sys.executable).with_name("aws"))
    result = subprocess.run(
        [
            aws,
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            f"file://{policy_file}",
            "--action-names",
            "s3:DeleteBucket",
            "s3:ListBucket",
            "--resource-arns",
            "arn:aws:s3:::team-carol",
            "--context-entries",
            "ContextKeyName=aws:username,ContextKeyValues=carol,ContextKeyType=string",
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in json.loads(result.stdout)["EvaluationResults"]}
    assert decisions == {"s3:DeleteBucket": "explicitDeny", "s3:ListBucket": "allowed"}


def test_simulate_principal_policy_for_a_user_with_groups_and_boundary(iam: object) -> None:
    read = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}],
        }
    )
    arn = iam.create_policy(PolicyName="S3Read", PolicyDocument=read)["Policy"]["Arn"]  # type: ignore[attr-defined]
    iam.create_group(GroupName="analysts")  # type: ignore[attr-defined]
    iam.attach_group_policy(GroupName="analysts", PolicyArn=arn)  # type: ignore[attr-defined]
    user = iam.create_user(UserName="ana")["User"]  # type: ignore[attr-defined]
    iam.add_user_to_group(GroupName="analysts", UserName="ana")  # type: ignore[attr-defined]
    iam.put_user_policy(
        UserName="ana",
        PolicyName="no-secrets",
        PolicyDocument=json.dumps(  # type: ignore[attr-defined]
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secrets/*"}],
            }
        ),
    )

    response = iam.simulate_principal_policy(  # type: ignore[attr-defined]
        PolicySourceArn=user["Arn"],
        ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::reports/q3.csv", "arn:aws:s3:::secrets/key"],
    )
    found = {(r["EvalActionName"], r["EvalResourceName"]): r for r in response["EvaluationResults"]}
    allowed = found[("s3:GetObject", "arn:aws:s3:::reports/q3.csv")]
    assert allowed["EvalDecision"] == "allowed"
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in allowed["MatchedStatements"]] == [
        (arn, "user-managed")
    ]
    denied = found[("s3:GetObject", "arn:aws:s3:::secrets/key")]
    assert denied["EvalDecision"] == "explicitDeny"
    assert ("user_ana_no-secrets", "user") in [
        (m["SourcePolicyId"], m["SourcePolicyType"]) for m in denied["MatchedStatements"]
    ]
    assert found[("s3:PutObject", "arn:aws:s3:::reports/q3.csv")]["EvalDecision"] == "implicitDeny"

    boundary = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}
    )
    boundary_arn = iam.create_policy(PolicyName="ListOnly", PolicyDocument=boundary)["Policy"]["Arn"]  # type: ignore[attr-defined]
    iam.put_user_permissions_boundary(UserName="ana", PermissionsBoundary=boundary_arn)  # type: ignore[attr-defined]
    bounded = iam.simulate_principal_policy(  # type: ignore[attr-defined]
        PolicySourceArn=user["Arn"],
        ActionNames=["s3:GetObject", "s3:ListBucket"],
        ResourceArns=["arn:aws:s3:::reports"],
    )["EvaluationResults"]
    by_action = {r["EvalActionName"]: r for r in bounded}
    assert by_action["s3:GetObject"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:GetObject"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    assert by_action["s3:ListBucket"]["EvalDecision"] == "allowed"


def test_simulate_principal_policy_unknown_principal(iam: object) -> None:
    with pytest.raises(ClientError) as raised:
        iam.simulate_principal_policy(
            PolicySourceArn="arn:aws:iam::123456789012:user/nobody",  # type: ignore[attr-defined]
            ActionNames=["s3:GetObject"],
        )
    assert raised.value.response["Error"]["Code"] == "NoSuchEntity"
