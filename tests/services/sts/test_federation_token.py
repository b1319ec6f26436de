"""STS GetFederationToken through boto3: the answer's shape, the credentials' SigV4 authentication,
the session-policy rules, duration limits, and who may call it."""

from __future__ import annotations

import datetime as dt
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

NOT_IN_ORG = "AWSOrganizationsNotInUseException"  # the answer once authorization let the call through


def _federated(broker: LiveBroker, service: str, credentials: dict[str, Any]) -> Any:
    return client(
        broker, service, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )


@pytest.fixture(scope="module")
def issuer(broker: LiveBroker, iam: Any) -> Any:
    """An IAM user allowed to federate and to describe the organization (its long-term key's STS client)."""
    policy = document(
        allow(["sts:GetFederationToken", "sts:TagSession"]),
        allow(["organizations:DescribeOrganization", "organizations:ListRoots"]),
    )
    key, secret = user_with_key(iam, "federator", policy=policy)
    iam.tag_user(UserName="federator", Tags=[{"Key": "team", "Value": "blue"}])
    return client(broker, "sts", key, secret)


def test_answer_shape_and_sigv4(broker: LiveBroker, issuer: Any) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allow("organizations:Describe*")]})
    answer = issuer.get_federation_token(Name="bob", Policy=policy, DurationSeconds=1800)
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    assert len(credentials["SecretAccessKey"]) == 40 and credentials["SessionToken"]
    remaining = (credentials["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds()
    assert 1700 < remaining <= 1800
    assert answer["FederatedUser"] == {
        "FederatedUserId": f"{ACCOUNT}:bob",
        "Arn": f"arn:aws:sts::{ACCOUNT}:federated-user/bob",
    }
    assert isinstance(answer["PackedPolicySize"], int) and 0 < answer["PackedPolicySize"] <= 100

    # The credentials authenticate (SigV4 with the session token) as the federated user.
    identity = _federated(broker, "sts", credentials).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/bob"
    assert identity["UserId"] == f"{ACCOUNT}:bob" and identity["Account"] == ACCOUNT


def test_effective_permissions_are_the_intersection(broker: LiveBroker, issuer: Any) -> None:
    # Session policy allows DescribeOrganization and ListRoots... the user allows both: both pass.
    both = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [allow(["organizations:DescribeOrganization", "organizations:ListAccounts"])],
        }
    )
    credentials = issuer.get_federation_token(Name="carol", Policy=both)["Credentials"]
    orgs = _federated(broker, "organizations", credentials)
    assert error(orgs.describe_organization)[0] == NOT_IN_ORG  # allowed by both
    # ListRoots: the user allows it, the session policy does not.
    assert error(orgs.list_roots)[0] == "AccessDeniedException"
    # ListAccounts: the session policy allows it, the user does not.
    assert error(orgs.list_accounts)[0] == "AccessDeniedException"


def test_without_a_session_policy_nothing_is_allowed(broker: LiveBroker, issuer: Any) -> None:
    answer = issuer.get_federation_token(Name="dave")
    assert "PackedPolicySize" not in answer
    orgs = _federated(broker, "organizations", answer["Credentials"])
    assert error(orgs.describe_organization)[0] == "AccessDeniedException"
    # A managed session policy counts as a session policy.
    managed = issuer.get_federation_token(Name="dave", PolicyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}])
    orgs = _federated(broker, "organizations", managed["Credentials"])
    assert error(orgs.describe_organization)[0] == NOT_IN_ORG


def test_session_tags_are_principal_tags(broker: LiveBroker, iam: Any) -> None:
    policy = document(
        allow(["sts:GetFederationToken", "sts:TagSession"]),
        allow("organizations:DescribeOrganization", Condition={"StringEquals": {"aws:PrincipalTag/project": "apollo"}}),
        allow("organizations:ListRoots", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}),
    )
    key, secret = user_with_key(iam, "tagging-federator", policy=policy)
    iam.tag_user(UserName="tagging-federator", Tags=[{"Key": "team", "Value": "blue"}])
    sts = client(broker, "sts", key, secret)
    everything = json.dumps({"Version": "2012-10-17", "Statement": [allow("organizations:*")]})
    answer = sts.get_federation_token(Name="erin", Policy=everything, Tags=[{"Key": "project", "Value": "apollo"}])
    orgs = _federated(broker, "organizations", answer["Credentials"])
    assert error(orgs.describe_organization)[0] == NOT_IN_ORG  # the session tag
    assert error(orgs.list_roots)[0] == NOT_IN_ORG  # the issuing user's tag
    assert error(
        sts.get_federation_token,
        Name="erin",
        Tags=[{"Key": "Project", "Value": "a"}, {"Key": "project", "Value": "b"}],
    ) == ("InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")


def test_federated_credentials_call_no_iam_and_no_sts_but_get_caller_identity(broker: LiveBroker, issuer: Any) -> None:
    everything = json.dumps({"Version": "2012-10-17", "Statement": [allow("*")]})
    credentials = issuer.get_federation_token(Name="frank", Policy=everything)["Credentials"]
    code_, message = error(_federated(broker, "iam", credentials).list_users)
    assert code_ == "AccessDenied" and "federated user credentials cannot call the IAM or STS API" in message
    sts = _federated(broker, "sts", credentials)
    assert error(sts.get_federation_token, Name="again") == (
        "AccessDenied",
        "Cannot call GetFederationToken with session credentials",
    )
    assert error(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/anything", RoleSessionName="s")[0] == (
        "AccessDenied"
    )
    assert error(sts.get_session_token)[0] == "AccessDenied"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"Name": "x"}, "'name' failed to satisfy constraint: Member must have length greater than or equal to 2"),
        ({"Name": "a" * 33}, "must have length less than or equal to 32"),
        ({"Name": "bad name"}, "must satisfy regular expression pattern"),
        ({"Name": "ok-name", "DurationSeconds": 899}, "'durationSeconds'"),
        ({"Name": "ok-name", "DurationSeconds": 129601}, "'durationSeconds'"),
        # sessionPolicyDocumentType, as for AssumeRoleWithSAML (AssumeRole's alone is unbounded).
        (
            {"Name": "ok-name", "Policy": '{"Version": "2012-10-17", "Statement": []}' + " " * 2010},
            "'policy' failed to satisfy constraint: Member must have length less than or equal to 2048",
        ),
    ],
)
def test_validation(issuer: Any, kwargs: dict[str, Any], fragment: str) -> None:
    code_, message = error(issuer.get_federation_token, **kwargs)
    assert code_ == "ValidationError" and fragment in message


def test_longest_duration_and_malformed_policy(issuer: Any) -> None:
    answer = issuer.get_federation_token(Name="long-one", DurationSeconds=129600)
    remaining = (answer["Credentials"]["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds()
    assert 129500 < remaining <= 129600
    default = issuer.get_federation_token(Name="default-one")
    remaining = (default["Credentials"]["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds()
    assert 43100 < remaining <= 43200
    assert error(issuer.get_federation_token, Name="bad-policy", Policy="{not json")[0] == "MalformedPolicyDocument"


def test_authorized_by_the_policy_engine(broker: LiveBroker, iam: Any) -> None:
    policy = document(allow("sts:GetFederationToken", f"arn:aws:sts::{ACCOUNT}:federated-user/app-*"))
    key, secret = user_with_key(iam, "narrow-federator", policy=policy)
    sts = client(broker, "sts", key, secret)
    assert sts.get_federation_token(Name="app-1")["FederatedUser"]["Arn"].endswith("federated-user/app-1")
    code_, message = error(sts.get_federation_token, Name="admin")
    assert code_ == "AccessDenied"
    assert f"sts:GetFederationToken on resource: arn:aws:sts::{ACCOUNT}:federated-user/admin" in message
    # Tags need sts:TagSession too.
    assert error(sts.get_federation_token, Name="app-2", Tags=[{"Key": "k", "Value": "v"}])[0] == "AccessDenied"
