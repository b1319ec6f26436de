"""The IAM and STS Query APIs on the wire: every action of the issue is served, and responses put
their elements in the order of AWS's shapes (botocore's service models), as AWS does."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.model import OperationModel, Shape

from broker.services.api import QUERY_ACTIONS as ACTIONS
from tests.support.aws import ACCOUNT, admin_client, allow, document, running_broker
from tests.support.brokers import LiveBroker
from tests.support.metadata import idp_metadata_xml

ISSUE_ACTIONS = [
    "CreateUser",
    "GetUser",
    "ListUsers",
    "UpdateUser",
    "DeleteUser",
    "CreateGroup",
    "GetGroup",
    "ListGroups",
    "UpdateGroup",
    "DeleteGroup",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "UpdateRole",
    "UpdateRoleDescription",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "CreatePolicy",
    "GetPolicy",
    "ListPolicies",
    "DeletePolicy",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "ListGroupsForUser",
    "PutUserPolicy",
    "GetUserPolicy",
    "ListUserPolicies",
    "DeleteUserPolicy",
    "PutGroupPolicy",
    "GetGroupPolicy",
    "ListGroupPolicies",
    "DeleteGroupPolicy",
    "PutRolePolicy",
    "GetRolePolicy",
    "ListRolePolicies",
    "DeleteRolePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedUserPolicies",
    "ListAttachedGroupPolicies",
    "ListAttachedRolePolicies",
    "ListEntitiesForPolicy",
    "PutUserPermissionsBoundary",
    "DeleteUserPermissionsBoundary",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "TagUser",
    "UntagUser",
    "ListUserTags",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "TagPolicy",
    "UntagPolicy",
    "ListPolicyTags",
    "TagSAMLProvider",
    "UntagSAMLProvider",
    "ListSAMLProviderTags",
    "CreateSAMLProvider",
    "GetSAMLProvider",
    "UpdateSAMLProvider",
    "ListSAMLProviders",
    "DeleteSAMLProvider",
    "CreateAccountAlias",
    "ListAccountAliases",
    "DeleteAccountAlias",
    "GetAccountAuthorizationDetails",
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "ListAccessKeys",
    "GetAccessKeyLastUsed",
    "AssumeRole",
    "GetSessionToken",
    "GetAccessKeyInfo",
    "DecodeAuthorizationMessage",
    "GetCallerIdentity",
    "AssumeRoleWithSAML",
]


def test_every_action_of_the_issue_is_served() -> None:
    assert sorted(set(ISSUE_ACTIONS) - set(ACTIONS)) == []


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[LiveBroker]:
    with running_broker(tmp_path_factory.mktemp("iam-wire"), keys_dir, "sqlite") as live:
        yield live


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check(element: ET.Element, shape: Shape, where: str) -> None:
    if shape.type_name == "structure":
        members = list(shape.members)  # type: ignore[attr-defined]
        names = [_local(child.tag) for child in element]
        unknown = [name for name in names if name not in members]
        assert not unknown, f"{where}: elements {unknown} are not in {shape.name}"
        positions = [members.index(name) for name in names]
        assert positions == sorted(positions), f"{where}: {names} out of AWS's order {members}"
        for child in element:
            name = _local(child.tag)
            _check(child, shape.members[name], f"{where}/{name}")  # type: ignore[attr-defined]
    elif shape.type_name == "list":
        for child in element:
            assert _local(child.tag) == "member", f"{where}: list items must be <member>"
            _check(child, shape.member, f"{where}/member")  # type: ignore[attr-defined]


class Recorder:
    def __init__(self) -> None:
        self.responses: list[tuple[OperationModel, bytes]] = []

    def __call__(self, http_response: Any, model: OperationModel, **_: Any) -> None:
        if http_response.status_code == 200:
            self.responses.append((model, http_response.content))


def test_responses_follow_aws_element_order(broker: LiveBroker) -> None:
    recorder = Recorder()
    iam = admin_client(broker)
    sts = admin_client(broker, "sts")
    iam.meta.events.register("after-call.iam", recorder)
    sts.meta.events.register("after-call.sts", recorder)

    iam.create_user(UserName="wire", Tags=[{"Key": "k", "Value": "v"}], PermissionsBoundary=READ_ONLY)
    iam.get_user(UserName="wire")
    iam.list_users()
    iam.create_group(GroupName="wire-group")
    iam.add_user_to_group(GroupName="wire-group", UserName="wire")
    iam.get_group(GroupName="wire-group")
    iam.list_groups_for_user(UserName="wire")
    trust = document({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    iam.create_role(
        RoleName="wire-role", AssumeRolePolicyDocument=trust, Description="d", Tags=[{"Key": "k", "Value": "v"}]
    )
    iam.put_role_permissions_boundary(RoleName="wire-role", PermissionsBoundary=READ_ONLY)
    iam.get_role(RoleName="wire-role")
    iam.list_roles()
    iam.update_role_description(RoleName="wire-role", Description="described")
    arn = iam.create_policy(PolicyName="WirePolicy", PolicyDocument=document(allow("iam:Get*")), Description="x")[
        "Policy"
    ]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document(allow("iam:List*")))
    iam.get_policy(PolicyArn=arn)
    iam.get_policy_version(PolicyArn=arn, VersionId="v2")
    iam.list_policy_versions(PolicyArn=arn)
    iam.list_policies(MaxItems=2)
    iam.attach_user_policy(UserName="wire", PolicyArn=arn)
    iam.attach_role_policy(RoleName="wire-role", PolicyArn=arn)
    iam.list_attached_user_policies(UserName="wire")
    iam.list_entities_for_policy(PolicyArn=arn)
    iam.put_user_policy(UserName="wire", PolicyName="p", PolicyDocument=document(allow("iam:GetUser")))
    iam.get_user_policy(UserName="wire", PolicyName="p")
    iam.list_user_policies(UserName="wire")
    iam.list_user_tags(UserName="wire")
    key = iam.create_access_key(UserName="wire")["AccessKey"]["AccessKeyId"]
    iam.list_access_keys(UserName="wire")
    iam.get_access_key_last_used(AccessKeyId=key)
    provider = iam.create_saml_provider(
        Name="wire-idp",
        SAMLMetadataDocument=idp_metadata_xml("https://wire.example"),
        Tags=[{"Key": "k", "Value": "v"}],
    )["SAMLProviderArn"]
    iam.get_saml_provider(SAMLProviderArn=provider)
    iam.list_saml_providers()
    iam.update_saml_provider(SAMLProviderArn=provider, SAMLMetadataDocument=idp_metadata_xml("https://wire.example"))
    iam.create_account_alias(AccountAlias="wire-account")
    iam.list_account_aliases()
    iam.get_account_authorization_details()
    sts.get_caller_identity()
    sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/wire-role",
        RoleSessionName="wire",
        Policy=document(allow("iam:Get*")),
    )
    sts.get_session_token(DurationSeconds=900)
    sts.get_access_key_info(AccessKeyId=key)

    assert len(recorder.responses) >= 40
    for model, body in recorder.responses:
        root = ET.fromstring(body)  # noqa: S314  (the broker's own response)
        assert _local(root.tag) == f"{model.name}Response"
        children = [_local(child.tag) for child in root]
        assert children[-1] == "ResponseMetadata"
        if model.output_shape is not None and children[0] == f"{model.name}Result":
            _check(root[0], model.output_shape, model.name)


READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
