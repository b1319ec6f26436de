"""Instance profiles through boto3: lifecycle, the one role a profile holds, pagination, tags, errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

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

TRUST = document({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})


def test_lifecycle_with_a_role(iam: Any) -> None:
    created = iam.create_instance_profile(
        InstanceProfileName="web", Path="/app/", Tags=[{"Key": "tier", "Value": "front"}]
    )["InstanceProfile"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/app/web"
    assert created["InstanceProfileId"].startswith("AIPA") and len(created["InstanceProfileId"]) == 21
    assert created["Path"] == "/app/" and created["Roles"] == []
    assert created["Tags"] == [{"Key": "tier", "Value": "front"}]
    assert isinstance(created["CreateDate"], dt.datetime)
    assert error(iam.create_instance_profile, InstanceProfileName="WEB") == (
        "EntityAlreadyExists",
        "Instance Profile WEB already exists.",
    )

    iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web-role")
    fetched = iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]
    [role] = fetched["Roles"]
    assert role["RoleName"] == "web-role" and role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/web-role"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}

    # One role per profile, as AWS allows.
    iam.create_role(RoleName="other-role", AssumeRolePolicyDocument=TRUST)
    assert error(iam.add_role_to_instance_profile, InstanceProfileName="web", RoleName="other-role") == (
        "LimitExceeded",
        "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
    )
    details = iam.get_account_authorization_details(Filter=["Role"])["RoleDetailList"]
    [detail] = [d for d in details if d["RoleName"] == "web-role"]
    assert [p["InstanceProfileName"] for p in detail["InstanceProfileList"]] == ["web"]
    assert detail["InstanceProfileList"][0]["Roles"][0]["RoleName"] == "web-role"
    for_role = iam.list_instance_profiles_for_role(RoleName="web-role")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in for_role] == ["web"] and "Tags" not in for_role[0]
    assert iam.list_instance_profiles_for_role(RoleName="other-role")["InstanceProfiles"] == []

    # Neither the profile nor the role can go while they are linked.
    assert error(iam.delete_instance_profile, InstanceProfileName="web") == (
        "DeleteConflict",
        "Cannot delete entity, must remove roles from instance profile first.",
    )
    assert error(iam.delete_role, RoleName="web-role") == (
        "DeleteConflict",
        "Cannot delete entity, must remove roles from instance profile first.",
    )
    assert error(iam.remove_role_from_instance_profile, InstanceProfileName="web", RoleName="other-role")[0] == (
        "NoSuchEntity"
    )
    iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="web-role")
    assert iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]["Roles"] == []
    iam.delete_role(RoleName="web-role")
    iam.delete_instance_profile(InstanceProfileName="web")
    assert error(iam.get_instance_profile, InstanceProfileName="web") == (
        "NoSuchEntity",
        "Instance Profile web cannot be found.",
    )


def test_errors_for_missing_entities_and_bad_names(iam: Any) -> None:
    assert error(iam.delete_instance_profile, InstanceProfileName="ghost") == (
        "NoSuchEntity",
        "Instance Profile ghost cannot be found.",
    )
    iam.create_instance_profile(InstanceProfileName="lonely")
    assert error(iam.add_role_to_instance_profile, InstanceProfileName="lonely", RoleName="ghost-role") == (
        "NoSuchEntity",
        "The role with name ghost-role cannot be found.",
    )
    assert error(iam.list_instance_profiles_for_role, RoleName="ghost-role") == (
        "NoSuchEntity",
        "The role with name ghost-role cannot be found.",
    )
    code_, message = error(iam.create_instance_profile, InstanceProfileName="bad name!")
    assert code_ == "ValidationError" and "instanceProfileName" in message
    code_, message = error(iam.create_instance_profile, InstanceProfileName="x" * 129)
    assert code_ == "ValidationError" and "less than or equal to 128" in message
    code_, message = error(iam.create_instance_profile, InstanceProfileName="pathless", Path="no-slashes")
    assert code_ == "ValidationError" and "'path'" in message


def test_listing_pages_by_name_under_a_path(iam: Any) -> None:
    names = [f"batch-{i}" for i in range(5)]
    for name in reversed(names):
        iam.create_instance_profile(InstanceProfileName=name, Path="/batch/")
    first = iam.list_instance_profiles(PathPrefix="/batch/", MaxItems=2)
    assert [p["InstanceProfileName"] for p in first["InstanceProfiles"]] == names[:2]
    assert first["IsTruncated"] is True and first["Marker"]
    second = iam.list_instance_profiles(PathPrefix="/batch/", MaxItems=2, Marker=first["Marker"])
    assert [p["InstanceProfileName"] for p in second["InstanceProfiles"]] == names[2:4]
    pages = iam.get_paginator("list_instance_profiles").paginate(PathPrefix="/batch/", PaginationConfig={"PageSize": 2})
    assert [p["InstanceProfileName"] for page in pages for p in page["InstanceProfiles"]] == names
    assert "Tags" not in first["InstanceProfiles"][0]


def test_tags(iam: Any) -> None:
    iam.create_instance_profile(InstanceProfileName="tagged")
    iam.tag_instance_profile(
        InstanceProfileName="tagged", Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "a"}]
    )
    iam.tag_instance_profile(InstanceProfileName="tagged", Tags=[{"Key": "ENV", "Value": "dev"}])
    tags = iam.list_instance_profile_tags(InstanceProfileName="tagged")
    assert tags["Tags"] == [{"Key": "team", "Value": "a"}, {"Key": "ENV", "Value": "dev"}]
    assert tags["IsTruncated"] is False
    iam.untag_instance_profile(InstanceProfileName="tagged", TagKeys=["team"])
    assert iam.list_instance_profile_tags(InstanceProfileName="tagged")["Tags"] == [{"Key": "ENV", "Value": "dev"}]
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error(iam.tag_instance_profile, InstanceProfileName="tagged", Tags=too_many) == (
        "LimitExceeded",
        "Cannot exceed quota for TagsPerInstanceProfile: 50",
    )
    assert error(iam.list_instance_profile_tags, InstanceProfileName="ghost")[0] == "NoSuchEntity"


def test_authorized_by_the_policy_engine(broker: LiveBroker, iam: Any) -> None:
    profile_arn = f"arn:aws:iam::{ACCOUNT}:instance-profile/team/*"
    policy = document(
        allow(
            ["iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile"],
            profile_arn,
        ),
        allow("iam:TagInstanceProfile", profile_arn, Condition={"StringEquals": {"aws:ResourceTag/owner": "me"}}),
    )
    key, secret = user_with_key(iam, "profile-maker", policy=policy)
    maker = client(broker, "iam", key, secret)
    maker.create_instance_profile(InstanceProfileName="mine", Path="/team/", Tags=[{"Key": "owner", "Value": "me"}])
    code_, message = error(maker.create_instance_profile, InstanceProfileName="elsewhere")
    assert code_ == "AccessDenied"
    assert f"iam:CreateInstanceProfile on resource: arn:aws:iam::{ACCOUNT}:instance-profile/elsewhere" in message
    assert error(maker.list_instance_profiles)[0] == "AccessDenied"
    assert error(maker.delete_instance_profile, InstanceProfileName="mine")[0] == "AccessDenied"
    maker.tag_instance_profile(InstanceProfileName="mine", Tags=[{"Key": "k", "Value": "v"}])  # owner=me
    # Adding a role also takes iam:PassRole on it.
    iam.create_role(RoleName="passed", AssumeRolePolicyDocument=TRUST)
    code_, message = error(maker.add_role_to_instance_profile, InstanceProfileName="mine", RoleName="passed")
    assert code_ == "AccessDenied" and "iam:PassRole" in message
    iam.put_user_policy(
        UserName="profile-maker",
        PolicyName="pass",
        PolicyDocument=document(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/passed")),
    )
    maker.add_role_to_instance_profile(InstanceProfileName="mine", RoleName="passed")
    assert [
        r["RoleName"] for r in maker.get_instance_profile(InstanceProfileName="mine")["InstanceProfile"]["Roles"]
    ] == ["passed"]
