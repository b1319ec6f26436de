"""IAM users and groups through boto3 against a live broker (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.support.aws import (  # noqa: F401  (module_broker, module_iam: the "broker" and "iam" fixtures)
    ACCOUNT,
    BACKENDS,
    admin_client,
    allow,
    client,
    code,
    document,
    error,
    module_broker,
    module_iam,
    running_broker,
)
from tests.support.brokers import LiveBroker


def test_user_lifecycle(iam: Any) -> None:
    created = iam.create_user(UserName="Alice", Path="/eng/", Tags=[{"Key": "team", "Value": "core"}])["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/eng/Alice"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert created["Path"] == "/eng/" and created["Tags"] == [{"Key": "team", "Value": "core"}]

    got = iam.get_user(UserName="alice")["User"]  # names are unique case-insensitively
    assert got["UserName"] == "Alice" and got["UserId"] == created["UserId"]
    assert error(iam.create_user, UserName="ALICE") == ("EntityAlreadyExists", "User with name ALICE already exists.")
    assert error(iam.get_user, UserName="nobody") == ("NoSuchEntity", "The user with name nobody cannot be found.")
    assert error(iam.create_user, UserName="bad name")[0] == "ValidationError"
    assert error(iam.create_user, UserName="x" * 65)[0] == "ValidationError"
    assert error(iam.create_user, UserName="p", Path="no-slashes")[0] == "ValidationError"

    iam.update_user(UserName="Alice", NewUserName="Alicia", NewPath="/ops/")
    moved = iam.get_user(UserName="Alicia")["User"]
    assert moved["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/ops/Alicia" and moved["UserId"] == created["UserId"]
    iam.create_user(UserName="Bob")
    assert error(iam.update_user, UserName="Bob", NewUserName="alicia")[0] == "EntityAlreadyExists"
    assert error(iam.update_user, UserName="Ghost", NewUserName="Spirit")[0] == "NoSuchEntity"

    iam.delete_user(UserName="Alicia")
    iam.delete_user(UserName="Bob")
    assert error(iam.delete_user, UserName="Alicia")[0] == "NoSuchEntity"


def test_get_user_without_a_name_is_the_caller(broker: LiveBroker, iam: Any) -> None:
    assert iam.get_user()["User"]["UserName"] == "admin"
    iam.create_user(UserName="self-reader")
    iam.put_user_policy(
        UserName="self-reader",
        PolicyName="me",
        PolicyDocument=document(allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")),
    )
    key = iam.create_access_key(UserName="self-reader")["AccessKey"]
    own = client(broker, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert own.get_user()["User"]["UserName"] == "self-reader"
    assert error(own.get_user, UserName="admin")[0] == "AccessDenied"


def test_list_users_paginates_and_filters_by_path(iam: Any) -> None:
    names = [f"pager-{i:02d}" for i in range(7)]
    for name in names:
        iam.create_user(UserName=name, Path="/pager/")
    first = iam.list_users(PathPrefix="/pager/", MaxItems=3)
    assert [u["UserName"] for u in first["Users"]] == names[:3]
    assert first["IsTruncated"] is True and first["Marker"]
    assert "Tags" not in first["Users"][0]  # listings leave tags out, as AWS does
    second = iam.list_users(PathPrefix="/pager/", MaxItems=3, Marker=first["Marker"])
    third = iam.list_users(PathPrefix="/pager/", MaxItems=3, Marker=second["Marker"])
    assert [u["UserName"] for u in second["Users"] + third["Users"]] == names[3:]
    assert third["IsTruncated"] is False and "Marker" not in third

    paginated = iam.get_paginator("list_users").paginate(PathPrefix="/pager/", PaginationConfig={"PageSize": 2})
    pages = list(paginated)
    assert len(pages) == 4 and [u["UserName"] for p in pages for u in p["Users"]] == names
    everyone = [u["UserName"] for u in iam.list_users()["Users"]]
    assert "admin" in everyone and set(names) <= set(everyone)  # default MaxItems is 100

    assert error(iam.list_users, MaxItems=0)[0] == "ValidationError"
    assert error(iam.list_users, MaxItems=1001)[0] == "ValidationError"
    assert error(iam.list_users, Marker="%%%not-a-marker%%%")[0] == "ValidationError"
    # A corrupted marker is refused: the decoder dropped what it could not read, so "!!!!" (and a
    # marker with a character added) silently listed from the first page again.
    for corrupted in ("!!!!", first["Marker"] + "!"):
        assert error(iam.list_users, PathPrefix="/pager/", MaxItems=3, Marker=corrupted)[0] == "ValidationError"


def test_user_tags(iam: Any) -> None:
    iam.create_user(UserName="tagged", Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_user(UserName="tagged", Tags=[{"Key": "b", "Value": "2"}, {"Key": "A", "Value": "one"}])
    assert iam.list_user_tags(UserName="tagged")["Tags"] == [{"Key": "b", "Value": "2"}, {"Key": "A", "Value": "one"}]
    page = iam.list_user_tags(UserName="tagged", MaxItems=1)
    assert page["IsTruncated"] and iam.list_user_tags(UserName="tagged", Marker=page["Marker"])["Tags"] == [
        {"Key": "A", "Value": "one"}
    ]
    iam.untag_user(UserName="tagged", TagKeys=["B", "missing"])
    assert iam.get_user(UserName="tagged")["User"]["Tags"] == [{"Key": "A", "Value": "one"}]
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error(iam.tag_user, UserName="tagged", Tags=many)[0] == "LimitExceeded"
    assert error(iam.tag_user, UserName="tagged", Tags=[{"Key": "aws:x", "Value": "v"}])[0] == "ValidationError"
    assert error(iam.tag_user, UserName="ghost", Tags=[{"Key": "k", "Value": "v"}])[0] == "NoSuchEntity"


def test_user_permissions_boundary(iam: Any) -> None:
    boundary = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
    user = iam.create_user(UserName="bounded", PermissionsBoundary=boundary)["User"]
    assert user["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": boundary,
    }
    iam.delete_user_permissions_boundary(UserName="bounded")
    assert "PermissionsBoundary" not in iam.get_user(UserName="bounded")["User"]
    iam.put_user_permissions_boundary(UserName="bounded", PermissionsBoundary=boundary)
    assert iam.get_user(UserName="bounded")["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    missing = f"arn:aws:iam::{ACCOUNT}:policy/Nope"
    assert error(iam.put_user_permissions_boundary, UserName="bounded", PermissionsBoundary=missing) == (
        "NoSuchEntity",
        f"Policy {missing} does not exist or is not attachable.",
    )
    bucket = "arn:aws:s3:::not-a-policy-but-a-bucket"
    assert error(iam.put_user_permissions_boundary, UserName="bounded", PermissionsBoundary=bucket)[0] == "InvalidInput"


def test_deleting_a_user_with_subordinates_conflicts(iam: Any) -> None:
    iam.create_user(UserName="busy")
    iam.create_group(GroupName="busy-group")
    key = iam.create_access_key(UserName="busy")["AccessKey"]["AccessKeyId"]
    iam.put_user_policy(UserName="busy", PolicyName="p", PolicyDocument=document(allow("iam:GetUser")))
    iam.attach_user_policy(UserName="busy", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.add_user_to_group(UserName="busy", GroupName="busy-group")
    steps = [
        (
            "Cannot delete entity, must delete access keys first.",
            lambda: iam.delete_access_key(UserName="busy", AccessKeyId=key),
        ),
        (
            "Cannot delete entity, must delete policies first.",
            lambda: iam.delete_user_policy(UserName="busy", PolicyName="p"),
        ),
        (
            "Cannot delete entity, must detach all policies first.",
            lambda: iam.detach_user_policy(UserName="busy", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess"),
        ),
        (
            "Cannot delete entity, must remove user from all groups first.",
            lambda: iam.remove_user_from_group(UserName="busy", GroupName="busy-group"),
        ),
    ]
    for message, clear in steps:
        assert error(iam.delete_user, UserName="busy") == ("DeleteConflict", message)
        clear()
    iam.delete_user(UserName="busy")


def test_groups_and_members(iam: Any) -> None:
    group = iam.create_group(GroupName="Devs", Path="/teams/")["Group"]
    assert group["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/teams/Devs" and group["GroupId"].startswith("AGPA")
    assert error(iam.create_group, GroupName="devs")[0] == "EntityAlreadyExists"
    members = [f"dev-{i}" for i in range(5)]
    for name in members:
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="Devs", UserName=name)
    iam.add_user_to_group(GroupName="Devs", UserName="dev-0")  # a second add changes nothing

    first = iam.get_group(GroupName="Devs", MaxItems=2)
    assert first["Group"]["GroupName"] == "Devs" and [u["UserName"] for u in first["Users"]] == members[:2]
    rest = iam.get_group(GroupName="Devs", Marker=first["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == members[2:] and not rest["IsTruncated"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="dev-1")["Groups"]] == ["Devs"]
    assert [g["GroupName"] for g in iam.list_groups(PathPrefix="/teams/")["Groups"]] == ["Devs"]

    assert error(iam.delete_group, GroupName="Devs") == (
        "DeleteConflict",
        "Cannot delete entity, must remove users from group first.",
    )
    assert error(iam.add_user_to_group, GroupName="Devs", UserName="ghost")[0] == "NoSuchEntity"
    assert error(iam.add_user_to_group, GroupName="Ghosts", UserName="dev-0")[0] == "NoSuchEntity"
    iam.create_user(UserName="outsider")
    assert error(iam.remove_user_from_group, GroupName="Devs", UserName="outsider")[0] == "NoSuchEntity"

    iam.update_group(GroupName="Devs", NewGroupName="Developers", NewPath="/eng/")
    assert iam.get_group(GroupName="developers")["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/eng/Developers"
    for name in members:
        iam.remove_user_from_group(GroupName="Developers", UserName=name)
    iam.put_group_policy(GroupName="Developers", PolicyName="p", PolicyDocument=document(allow("iam:Get*")))
    assert error(iam.delete_group, GroupName="Developers") == (
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    )
    iam.delete_group_policy(GroupName="Developers", PolicyName="p")
    iam.attach_group_policy(GroupName="Developers", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert error(iam.delete_group, GroupName="Developers") == (
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    )
    iam.detach_group_policy(GroupName="Developers", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.delete_group(GroupName="Developers")
    assert error(iam.get_group, GroupName="Developers") == (
        "NoSuchEntity",
        "The group with name Developers cannot be found.",
    )


def test_a_user_joins_at_most_ten_groups(iam: Any) -> None:
    iam.create_user(UserName="joiner")
    for i in range(10):
        iam.create_group(GroupName=f"club-{i}")
        iam.add_user_to_group(GroupName=f"club-{i}", UserName="joiner")
    iam.create_group(GroupName="club-10")
    assert error(iam.add_user_to_group, GroupName="club-10", UserName="joiner") == (
        "LimitExceeded",
        "Cannot exceed quota for GroupsPerUser: 10",
    )
    page = iam.list_groups_for_user(UserName="joiner", MaxItems=4)
    assert len(page["Groups"]) == 4 and page["IsTruncated"]


def test_role_lifecycle(iam: Any) -> None:
    trust = document({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    names = [f"svc-{i}" for i in range(5)]
    for name in names:
        iam.create_role(RoleName=name, Path="/svc/", AssumeRolePolicyDocument=trust)
    first = iam.list_roles(PathPrefix="/svc/", MaxItems=2)
    assert [r["RoleName"] for r in first["Roles"]] == names[:2] and first["IsTruncated"]
    assert "Tags" not in first["Roles"][0] and "RoleLastUsed" not in first["Roles"][0]
    pages = list(iam.get_paginator("list_roles").paginate(PathPrefix="/svc/", PaginationConfig={"PageSize": 2}))
    assert [r["RoleName"] for p in pages for r in p["Roles"]] == names

    iam.update_role(RoleName="svc-0", Description="first service", MaxSessionDuration=10800)
    role = iam.get_role(RoleName="svc-0")["Role"]
    assert role["Description"] == "first service" and role["MaxSessionDuration"] == 10800
    assert role["RoleLastUsed"] == {}
    described = iam.update_role_description(RoleName="svc-0", Description="renamed service")["Role"]
    assert described["Description"] == "renamed service"
    assert error(iam.update_role, RoleName="svc-0", MaxSessionDuration=100)[0] == "ValidationError"
    assert error(iam.update_role, RoleName="ghost-role", Description="x")[0] == "NoSuchEntity"

    iam.tag_role(RoleName="svc-0", Tags=[{"Key": "env", "Value": "prod"}, {"Key": "app", "Value": "api"}])
    assert iam.list_role_tags(RoleName="svc-0")["Tags"] == [
        {"Key": "env", "Value": "prod"},
        {"Key": "app", "Value": "api"},
    ]
    iam.untag_role(RoleName="svc-0", TagKeys=["ENV"])
    assert iam.get_role(RoleName="svc-0")["Role"]["Tags"] == [{"Key": "app", "Value": "api"}]
    assert error(iam.untag_role, RoleName="ghost-role", TagKeys=["x"])[0] == "NoSuchEntity"

    iam.put_role_policy(RoleName="svc-1", PolicyName="p", PolicyDocument=document(allow("iam:GetRole")))
    assert error(iam.delete_role, RoleName="svc-1") == (
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    )
    iam.delete_role_policy(RoleName="svc-1", PolicyName="p")
    for name in names:
        iam.delete_role(RoleName=name)
    assert iam.list_roles(PathPrefix="/svc/")["Roles"] == []
    assert error(iam.delete_role, RoleName="svc-0") == ("NoSuchEntity", "The role with name svc-0 cannot be found.")


def test_list_groups_paginates(iam: Any) -> None:
    names = [f"paged-group-{i}" for i in range(5)]
    for name in names:
        iam.create_group(GroupName=name, Path="/paged/")
    pages = list(iam.get_paginator("list_groups").paginate(PathPrefix="/paged/", PaginationConfig={"PageSize": 2}))
    assert [len(p["Groups"]) for p in pages] == [2, 2, 1]
    assert [g["GroupName"] for p in pages for g in p["Groups"]] == names
