"""Managed policies, versions, attachments and inline policies through boto3 against a live broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.aws import (  # noqa: F401  (module_broker, module_iam: the "broker" and "iam" fixtures)
    ACCOUNT,
    BACKENDS,
    admin_client,
    allow,
    code,
    document,
    error,
    module_broker,
    module_iam,
    running_broker,
)
from tests.support.brokers import LiveBroker

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"


def test_aws_managed_policies_are_shipped(iam: Any) -> None:
    aws = iam.list_policies(Scope="AWS")["Policies"]
    assert {p["PolicyName"] for p in aws} >= {
        "AdministratorAccess",
        "ReadOnlyAccess",
        "IAMFullAccess",
        "IAMReadOnlyAccess",
    }
    policy = iam.get_policy(PolicyArn=READ_ONLY)["Policy"]
    assert policy["Arn"] == READ_ONLY and policy["PolicyId"].startswith("ANPA")
    version = iam.get_policy_version(PolicyArn=READ_ONLY, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    actions = {a for statement in version["Document"]["Statement"] for a in statement["Action"]}
    assert {"iam:Get*", "iam:List*", "s3:Get*", "ec2:Describe*"} <= actions  # AWS's document
    admin = iam.get_policy_version(PolicyArn=ADMINISTRATOR, VersionId="v1")["PolicyVersion"]["Document"]
    assert admin["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    # They belong to AWS: nobody in the account may change them.
    assert error(iam.delete_policy, PolicyArn=READ_ONLY)[0] == "AccessDenied"
    assert (
        error(iam.create_policy_version, PolicyArn=READ_ONLY, PolicyDocument=document(allow("*")))[0] == "AccessDenied"
    )


def test_customer_managed_policy_lifecycle(iam: Any) -> None:
    created = iam.create_policy(
        PolicyName="ReadUsers",
        Path="/team/",
        PolicyDocument=document(allow("iam:GetUser")),
        Description="read users",
        Tags=[{"Key": "owner", "Value": "sec"}],
    )["Policy"]
    arn = f"arn:aws:iam::{ACCOUNT}:policy/team/ReadUsers"
    assert created["Arn"] == arn and created["DefaultVersionId"] == "v1" and created["AttachmentCount"] == 0
    assert created["IsAttachable"] is True and created["PolicyId"].startswith("ANPA")
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["Description"] == "read users" and got["Tags"] == [{"Key": "owner", "Value": "sec"}]
    assert error(iam.create_policy, PolicyName="readusers", PolicyDocument=document(allow("iam:GetUser"))) == (
        "EntityAlreadyExists",
        "A policy called readusers already exists. Duplicate names are not allowed.",
    )
    assert (
        error(iam.create_policy, PolicyName="Bad", PolicyDocument='{"Version": "2012-10-17", "Statement": {}}')[0]
        == "MalformedPolicyDocument"
    )
    assert error(iam.create_policy, PolicyName="Bad", PolicyDocument="not json")[0] == "MalformedPolicyDocument"
    huge = document(*[allow(f"iam:GetUser{i:04d}", f"arn:aws:iam::{ACCOUNT}:user/u{i}") for i in range(120)])
    assert error(iam.create_policy, PolicyName="Huge", PolicyDocument=huge) == (
        "LimitExceeded",
        "Cannot exceed quota for PolicySize: 6144",
    )
    assert error(iam.get_policy, PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/Missing") == (
        "NoSuchEntity",
        f"Policy arn:aws:iam::{ACCOUNT}:policy/Missing was not found.",
    )
    assert error(iam.get_policy, PolicyArn="arn:aws:iam::123456789012:role/not-a-policy")[0] == "InvalidInput"

    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "tier", "Value": "1"}])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [
        {"Key": "owner", "Value": "sec"},
        {"Key": "tier", "Value": "1"},
    ]
    iam.untag_policy(PolicyArn=arn, TagKeys=["owner"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "tier", "Value": "1"}]

    local = iam.list_policies(Scope="Local")["Policies"]
    assert [p["Arn"] for p in local if p["PolicyName"] == "ReadUsers"] == [arn]
    assert iam.list_policies(Scope="Local", PathPrefix="/team/")["Policies"][0]["PolicyName"] == "ReadUsers"
    assert error(iam.list_policies, Scope="Everything")[0] == "ValidationError"
    iam.delete_policy(PolicyArn=arn)
    assert error(iam.get_policy, PolicyArn=arn)[0] == "NoSuchEntity"


def test_policy_versions(iam: Any) -> None:
    arn = iam.create_policy(PolicyName="Versioned", PolicyDocument=document(allow("iam:GetUser")))["Policy"]["Arn"]
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=document(allow("iam:GetRole")))["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is False
    v3 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=document(allow("iam:GetGroup")), SetAsDefault=True)
    assert v3["PolicyVersion"]["IsDefaultVersion"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]
    assert got["Document"]["Statement"][0]["Action"] == "iam:GetRole" and got["IsDefaultVersion"] is False
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document(allow("iam:ListUsers")))
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document(allow("iam:ListRoles")))
    assert error(iam.create_policy_version, PolicyArn=arn, PolicyDocument=document(allow("iam:ListGroups"))) == (
        "LimitExceeded",
        "A managed policy can have up to 5 versions. "
        "Before you create a new version, you must delete an existing version.",
    )
    listed = iam.list_policy_versions(PolicyArn=arn, MaxItems=2)
    assert [v["VersionId"] for v in listed["Versions"]] == ["v5", "v4"] and listed["IsTruncated"]
    rest = iam.list_policy_versions(PolicyArn=arn, Marker=listed["Marker"])["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in rest] == [("v3", True), ("v2", False), ("v1", False)]

    assert error(iam.delete_policy_version, PolicyArn=arn, VersionId="v3") == (
        "DeleteConflict",
        "Cannot delete the default version of a policy.",
    )
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    # Version ids are never reused.
    assert (
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document(allow("iam:Get*")))["PolicyVersion"][
            "VersionId"
        ]
        == "v6"
    )
    assert error(iam.get_policy_version, PolicyArn=arn, VersionId="v3")[0] == "NoSuchEntity"
    assert error(iam.get_policy_version, PolicyArn=arn, VersionId="version-one")[0] == "ValidationError"
    assert error(iam.set_default_policy_version, PolicyArn=arn, VersionId="v9")[0] == "NoSuchEntity"
    assert error(iam.delete_policy, PolicyArn=arn)[0] == "DeleteConflict"  # non-default versions remain
    for version in ("v2", "v4", "v5", "v6"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=version)
    iam.delete_policy(PolicyArn=arn)


def test_attachments_and_entities_for_policy(iam: Any) -> None:
    arn = iam.create_policy(PolicyName="Shared", PolicyDocument=document(allow("iam:List*")))["Policy"]["Arn"]
    iam.create_user(UserName="att-user")
    iam.create_group(GroupName="att-group")
    iam.create_role(
        RoleName="att-role",
        AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.attach_user_policy(UserName="att-user", PolicyArn=arn)
    iam.attach_user_policy(UserName="att-user", PolicyArn=arn)  # attaching twice changes nothing
    iam.attach_group_policy(GroupName="att-group", PolicyArn=arn)
    iam.attach_role_policy(RoleName="att-role", PolicyArn=arn)
    iam.attach_role_policy(RoleName="att-role", PolicyArn=READ_ONLY)
    iam.put_role_permissions_boundary(RoleName="att-role", PermissionsBoundary=arn)

    assert iam.list_attached_user_policies(UserName="att-user")["AttachedPolicies"] == [
        {"PolicyName": "Shared", "PolicyArn": arn}
    ]
    assert iam.list_attached_group_policies(GroupName="att-group")["AttachedPolicies"][0]["PolicyArn"] == arn
    role_policies = iam.list_attached_role_policies(RoleName="att-role")["AttachedPolicies"]
    assert [p["PolicyName"] for p in role_policies] == ["ReadOnlyAccess", "Shared"]
    assert len(iam.list_attached_role_policies(RoleName="att-role", MaxItems=1)["AttachedPolicies"]) == 1

    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert policy["AttachmentCount"] == 3 and policy["PermissionsBoundaryUsageCount"] == 1
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert [g["GroupName"] for g in entities["PolicyGroups"]] == ["att-group"]
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["att-user"]
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["att-role"]
    assert entities["PolicyUsers"][0]["UserId"].startswith("AIDA")
    only_users = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User")
    assert only_users["PolicyGroups"] == [] and only_users["PolicyRoles"] == [] and len(only_users["PolicyUsers"]) == 1
    boundaries = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert [r["RoleName"] for r in boundaries["PolicyRoles"]] == ["att-role"] and boundaries["PolicyUsers"] == []
    first = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=2)
    second = iam.list_entities_for_policy(PolicyArn=arn, Marker=first["Marker"])
    assert first["IsTruncated"] and len(first["PolicyGroups"] + first["PolicyUsers"]) == 2
    assert [r["RoleName"] for r in second["PolicyRoles"]] == ["att-role"]

    attached = iam.list_policies(OnlyAttached=True)["Policies"]
    assert {p["PolicyName"] for p in attached} >= {"Shared", "ReadOnlyAccess"}
    assert "AdministratorAccess" not in {
        p["PolicyName"] for p in iam.list_policies(OnlyAttached=True, Scope="AWS")["Policies"]
    }

    assert error(iam.delete_policy, PolicyArn=arn) == ("DeleteConflict", "Cannot delete a policy attached to entities.")
    assert error(iam.delete_role, RoleName="att-role") == (
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    )
    assert error(iam.detach_user_policy, UserName="att-user", PolicyArn=READ_ONLY) == (
        "NoSuchEntity",
        f"Policy {READ_ONLY} was not found.",
    )
    missing = f"arn:aws:iam::{ACCOUNT}:policy/Missing"
    assert error(iam.attach_user_policy, UserName="att-user", PolicyArn=missing) == (
        "NoSuchEntity",
        f"Policy {missing} does not exist or is not attachable.",
    )
    assert error(iam.attach_user_policy, UserName="nobody", PolicyArn=arn)[0] == "NoSuchEntity"
    assert (
        error(iam.attach_user_policy, UserName="att-user", PolicyArn="arn:aws:iam::123456789012:user/x")[0]
        == "InvalidInput"
    )

    iam.detach_user_policy(UserName="att-user", PolicyArn=arn)
    iam.detach_group_policy(GroupName="att-group", PolicyArn=arn)
    iam.detach_role_policy(RoleName="att-role", PolicyArn=arn)
    iam.delete_role_permissions_boundary(RoleName="att-role")
    iam.delete_policy(PolicyArn=arn)


def test_at_most_ten_managed_policies_per_entity(iam: Any) -> None:
    iam.create_user(UserName="collector")
    arns = [
        iam.create_policy(PolicyName=f"p-{i}", PolicyDocument=document(allow(f"iam:GetUser{i}")))["Policy"]["Arn"]
        for i in range(11)
    ]
    for arn in arns[:10]:
        iam.attach_user_policy(UserName="collector", PolicyArn=arn)
    assert error(iam.attach_user_policy, UserName="collector", PolicyArn=arns[10]) == (
        "LimitExceeded",
        "Cannot exceed quota for PoliciesPerUser: 10",
    )
    pages = list(
        iam.get_paginator("list_attached_user_policies").paginate(
            UserName="collector", PaginationConfig={"PageSize": 4}
        )
    )
    assert [len(p["AttachedPolicies"]) for p in pages] == [4, 4, 2]
    listed = iam.get_paginator("list_policies").paginate(Scope="Local", PaginationConfig={"PageSize": 3})
    names = [p["PolicyName"] for page in listed for p in page["Policies"]]
    assert {f"p-{i}" for i in range(11)} <= set(names) and len(names) == len(set(names))


@pytest.mark.parametrize("kind", ["User", "Group", "Role"])
def test_inline_policies(iam: Any, kind: str) -> None:
    name = f"inline-{kind.lower()}"
    parameter = f"{kind}Name"
    if kind == "User":
        iam.create_user(UserName=name)
    elif kind == "Group":
        iam.create_group(GroupName=name)
    else:
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=document(
                {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
            ),
        )
    put = getattr(iam, f"put_{kind.lower()}_policy")
    get = getattr(iam, f"get_{kind.lower()}_policy")
    listing = getattr(iam, f"list_{kind.lower()}_policies")
    delete = getattr(iam, f"delete_{kind.lower()}_policy")
    for policy_name in ("b-policy", "a-policy", "c-policy"):
        put(**{parameter: name, "PolicyName": policy_name, "PolicyDocument": document(allow("iam:GetUser"))})
    put(**{parameter: name, "PolicyName": "a-policy", "PolicyDocument": document(allow("iam:GetRole"))})  # replaces
    got = get(**{parameter: name, "PolicyName": "a-policy"})
    assert got[parameter] == name and got["PolicyName"] == "a-policy"
    assert got["PolicyDocument"]["Statement"][0]["Action"] == "iam:GetRole"
    first = listing(**{parameter: name, "MaxItems": 2})
    assert first["PolicyNames"] == ["a-policy", "b-policy"] and first["IsTruncated"]
    assert listing(**{parameter: name, "Marker": first["Marker"]})["PolicyNames"] == ["c-policy"]
    assert error(get, **{parameter: name, "PolicyName": "zzz"}) == (
        "NoSuchEntity",
        f"The {kind.lower()} policy with name zzz cannot be found.",
    )
    assert (
        error(put, **{parameter: name, "PolicyName": "bad", "PolicyDocument": '{"Statement": ['})[0]
        == "MalformedPolicyDocument"
    )
    assert (
        error(put, **{parameter: "missing-owner", "PolicyName": "p", "PolicyDocument": document(allow("*"))})[0]
        == "NoSuchEntity"
    )
    limit = {"User": 2048, "Group": 5120, "Role": 10240}[kind]
    big = document(*[allow(f"iam:GetUser{i:05d}", f"arn:aws:iam::{ACCOUNT}:user/u{i:05d}") for i in range(limit // 80)])
    assert error(put, **{parameter: name, "PolicyName": "big", "PolicyDocument": big}) == (
        "LimitExceeded",
        f"Maximum policy size of {limit} bytes exceeded for {kind.lower()} {name}",
    )
    for policy_name in ("a-policy", "b-policy", "c-policy"):
        delete(**{parameter: name, "PolicyName": policy_name})
    assert listing(**{parameter: name})["PolicyNames"] == []


def test_documents_go_out_url_encoded_as_iam_sends_them(broker: LiveBroker, iam: Any) -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": [allow("iam:GetUser", "arn:aws:iam::*:user/a b")]})
    iam.create_user(UserName="encoded")
    iam.put_user_policy(UserName="encoded", PolicyName="p", PolicyDocument=text)
    raw: list[str] = []
    iam.meta.events.register("after-call.iam.GetUserPolicy", lambda http_response, **_: raw.append(http_response.text))
    try:
        assert iam.get_user_policy(UserName="encoded", PolicyName="p")["PolicyDocument"] == json.loads(text)
    finally:
        iam.meta.events.unregister("after-call.iam.GetUserPolicy")
    assert "<PolicyDocument>%7B%22Version%22%3A%20%222012-10-17%22" in raw[0]
