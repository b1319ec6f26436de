"""Every IAM call is authorized by the policy engine: users' own and groups' policies, managed
policies, boundaries, resource ARNs and condition keys; denials carry an encoded message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import (  # module_broker, module_iam: the "broker" and "iam" fixtures
    ACCOUNT,
    admin_client,
    allow,
    client,
    code,
    deny,
    document,
    module_broker,  # noqa: F401
    module_iam,  # noqa: F401
    user_with_key,
)
from tests.support.brokers import LiveBroker


def denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    assert code(raised) == "AccessDenied", raised.value.response
    return str(raised.value.response["Error"]["Message"])


def test_a_user_is_denied_until_a_group_policy_allows(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "newcomer")
    own = client(broker, "iam", key, secret)
    message = denied(own.list_users)
    assert message.startswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/newcomer is not authorized to perform: iam:ListUsers on resource: "
        f"arn:aws:iam::{ACCOUNT}:user/ because no identity-based policy allows the iam:ListUsers action"
    )
    assert "Encoded authorization failure message: " in message
    denied(own.create_group, GroupName="g")

    iam.create_group(GroupName="readers")
    iam.put_group_policy(GroupName="readers", PolicyName="list", PolicyDocument=document(allow("iam:ListUsers")))
    iam.add_user_to_group(GroupName="readers", UserName="newcomer")
    assert "newcomer" in [u["UserName"] for u in own.list_users()["Users"]]
    denied(own.list_groups)

    # A managed policy attached to the group counts too, and detaching it takes effect at once.
    iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert own.list_groups()["Groups"] and own.get_group(GroupName="readers")["Group"]
    denied(own.create_group, GroupName="g")
    iam.detach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    denied(own.list_groups)
    iam.remove_user_from_group(GroupName="readers", UserName="newcomer")
    denied(own.list_users)


def test_resource_arns_follow_aws(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(
        iam,
        "contractor-admin",
        policy=document(
            allow(["iam:CreateUser", "iam:GetUser", "iam:DeleteUser"], f"arn:aws:iam::{ACCOUNT}:user/contractors/*"),
            allow("iam:ListUsers", f"arn:aws:iam::{ACCOUNT}:user/contractors/*"),
        ),
    )
    own = client(broker, "iam", key, secret)
    own.create_user(UserName="c1", Path="/contractors/")
    assert own.get_user(UserName="c1")["User"]["Path"] == "/contractors/"
    assert [u["UserName"] for u in own.list_users(PathPrefix="/contractors/")["Users"]] == ["c1"]
    message = denied(own.create_user, UserName="employee")
    assert f"on resource: arn:aws:iam::{ACCOUNT}:user/employee " in message
    denied(own.list_users)  # all users: arn:aws:iam::ACCOUNT:user/
    denied(own.get_user, UserName="admin")
    # A name that does not exist is still authorized first, on the ARN it would have.
    denied(own.get_user, UserName="nobody")
    with pytest.raises(ClientError) as missing:
        own.get_user(UserName="nobody-here")  # outside contractors/: denied before NoSuchEntity
    assert code(missing) == "AccessDenied"
    own.delete_user(UserName="c1")


def test_condition_keys_of_iam_calls(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(
        iam,
        "delegate",
        policy=document(
            allow(
                "iam:CreateUser",
                "*",
                Condition={
                    "StringEquals": {"aws:RequestTag/team": "blue"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]},
                },
            ),
            allow(
                "iam:AttachUserPolicy",
                "*",
                Condition={"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}},
            ),
            allow("iam:GetUser", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}}),
        ),
    )
    own = client(broker, "iam", key, secret)
    own.create_user(UserName="blue-1", Tags=[{"Key": "team", "Value": "blue"}])
    denied(own.create_user, UserName="red-1", Tags=[{"Key": "team", "Value": "red"}])
    denied(own.create_user, UserName="untagged")
    denied(own.create_user, UserName="extra", Tags=[{"Key": "team", "Value": "blue"}, {"Key": "x", "Value": "y"}])
    own.attach_user_policy(UserName="blue-1", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    denied(own.attach_user_policy, UserName="blue-1", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert own.get_user(UserName="blue-1")["User"]["UserName"] == "blue-1"
    denied(own.get_user, UserName="admin")


def test_boundaries_and_explicit_denies(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "bounded-admin")
    iam.attach_user_policy(UserName="bounded-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    own = client(broker, "iam", key, secret)
    own.create_group(GroupName="made-by-bounded")
    iam.put_user_permissions_boundary(
        UserName="bounded-admin", PermissionsBoundary="arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    )
    assert "because no permissions boundary allows the iam:CreateGroup action" in denied(
        own.create_group, GroupName="another"
    )
    assert own.get_group(GroupName="made-by-bounded")["Group"]
    iam.delete_user_permissions_boundary(UserName="bounded-admin")
    iam.put_user_policy(UserName="bounded-admin", PolicyName="no-deletes", PolicyDocument=document(deny("iam:Delete*")))
    assert "with an explicit deny in an identity-based policy" in denied(own.delete_group, GroupName="made-by-bounded")
    iam.delete_user_policy(UserName="bounded-admin", PolicyName="no-deletes")
    own.delete_group(GroupName="made-by-bounded")


def test_decode_authorization_message(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "curious")
    own_iam = client(broker, "iam", key, secret)
    message = denied(own_iam.create_role, RoleName="r", AssumeRolePolicyDocument=document(allow("*")))
    encoded = message.split("Encoded authorization failure message: ", 1)[1]
    own_sts = client(broker, "sts", key, secret)
    denied(own_sts.decode_authorization_message, EncodedMessage=encoded)  # needs sts:DecodeAuthorizationMessage

    decoded = json.loads(
        admin_client(broker, "sts").decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"]
    )
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["action"] == "iam:CreateRole"
    assert decoded["context"]["resource"] == f"arn:aws:iam::{ACCOUNT}:role/r"
    assert decoded["context"]["principal"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/curious"
    keys = {item["key"] for item in decoded["context"]["conditions"]["items"]}
    assert {"aws:username", "aws:PrincipalArn", "aws:SourceIp"} <= keys
    assert decoded["failures"]["items"]

    with pytest.raises(ClientError) as garbage:
        admin_client(broker, "sts").decode_authorization_message(EncodedMessage="v1.deadbeef.AAAA")
    assert code(garbage) == "InvalidAuthorizationMessageException"


def test_role_sessions_use_the_roles_policies(broker: LiveBroker, iam: Any) -> None:
    trust = document(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    )
    iam.create_role(RoleName="auditor", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="auditor", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    sts = admin_client(broker, "sts")
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/auditor", RoleSessionName="audit")[
        "Credentials"
    ]
    session = client(
        broker, "iam", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    assert session.get_role(RoleName="auditor")["Role"]["RoleName"] == "auditor"
    message = denied(session.create_user, UserName="x")
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/auditor/audit is not authorized")
    iam.put_role_permissions_boundary(RoleName="auditor", PermissionsBoundary="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert session.list_roles()["Roles"]
    iam.put_role_permissions_boundary(
        RoleName="auditor", PermissionsBoundary=_policy(iam, "OnlyUsers", "iam:ListUsers")
    )
    denied(session.list_roles)
    assert session.list_users()["Users"]


def _policy(iam: Any, name: str, action: str) -> str:
    return str(iam.create_policy(PolicyName=name, PolicyDocument=document(allow(action)))["Policy"]["Arn"])
