"""The new IAM and STS actions (issue 18) answer only what botocore's models name.

boto3 drops an XML element its model does not know, so a misspelt element would vanish without a
test noticing. Here every raw answer is read against the operation's output shape: each element
must be a member (lists hold ``member`` items, maps ``entry`` items), and each error code must be
one the model lists for the operation or a common one.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from botocore.model import OperationModel, Shape

from tests.support.aws import (  # module_broker, module_iam: the "broker" and "iam" fixtures
    ACCOUNT,
    admin_client,
    allow,
    document,
    error,
    module_broker,  # noqa: F401
    module_iam,  # noqa: F401
)
from tests.support.brokers import LiveBroker

COMMON_ERRORS = {"AccessDenied", "ValidationError", "InvalidAction", "InvalidClientTokenId", "ServiceUnavailable"}
# The operations whose answers were checked, so a test knows the hook ran.
CHECKED: list[str] = []


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _conforms(shape: Shape, element: ElementTree.Element, where: str) -> None:
    if shape.type_name == "structure":
        members = {member.serialization.get("name", name): member for name, member in shape.members.items()}
        for child in element:
            name = _local(child.tag)
            assert name in members, f"{where}: <{name}> is not a member of {shape.name}"
            _conforms(members[name], child, f"{where}.{name}")
    elif shape.type_name == "list":
        for child in element:
            assert _local(child.tag) == "member", f"{where}: a list holds <member>, not <{_local(child.tag)}>"
            _conforms(shape.member, child, f"{where}[]")
    elif shape.type_name == "map":
        for child in element:
            assert _local(child.tag) == "entry", where


def _check(http_response: Any, parsed: dict[str, Any], model: OperationModel, **_: Any) -> None:
    if "Error" in parsed:
        code = parsed["Error"]["Code"]
        modeled = {shape.error_code or shape.name for shape in model.error_shapes}
        assert code in modeled | COMMON_ERRORS, f"{model.name} answered {code}, which botocore does not model"
        return
    CHECKED.append(model.name)
    root = ElementTree.fromstring(http_response.content)  # noqa: S314  (the broker's own answer)
    [result] = [child for child in root if _local(child.tag) == f"{model.name}Result"] or [None]
    if model.output_shape is None:
        assert result is None or len(result) == 0, f"{model.name} has no output shape"
        return
    assert result is not None, f"{model.name} answered without <{model.name}Result>"
    _conforms(model.output_shape, result, model.name)


def _checked(client: Any, service: str) -> Any:
    client.meta.events.register(f"after-call.{service}", _check)
    return client


def test_new_iam_actions_answer_modeled_elements(iam: Any) -> None:
    iam = _checked(iam, "iam")
    trust = document({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="modeled-role", AssumeRolePolicyDocument=trust)
    iam.create_instance_profile(InstanceProfileName="modeled", Tags=[{"Key": "k", "Value": "v"}])
    iam.add_role_to_instance_profile(InstanceProfileName="modeled", RoleName="modeled-role")
    iam.get_instance_profile(InstanceProfileName="modeled")
    iam.list_instance_profiles(MaxItems=1)
    iam.list_instance_profiles_for_role(RoleName="modeled-role")
    iam.tag_instance_profile(InstanceProfileName="modeled", Tags=[{"Key": "a", "Value": "b"}])
    iam.list_instance_profile_tags(InstanceProfileName="modeled")
    iam.untag_instance_profile(InstanceProfileName="modeled", TagKeys=["a"])
    error(iam.add_role_to_instance_profile, InstanceProfileName="modeled", RoleName="modeled-role")
    iam.remove_role_from_instance_profile(InstanceProfileName="modeled", RoleName="modeled-role")
    iam.delete_instance_profile(InstanceProfileName="modeled")
    iam.get_account_authorization_details(Filter=["Role"])

    iam.create_service_linked_role(AWSServiceName="securityhub.amazonaws.com", Description="d")
    error(iam.create_service_linked_role, AWSServiceName="securityhub.amazonaws.com")
    error(iam.delete_role, RoleName="AWSServiceRoleForSecurityHub")
    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForSecurityHub")["DeletionTaskId"]
    iam.get_service_linked_role_deletion_status(DeletionTaskId=task)

    iam.create_user(UserName="modeled-user")
    created = iam.create_service_specific_credential(UserName="modeled-user", ServiceName="codecommit.amazonaws.com")
    credential_id = created["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
    iam.list_service_specific_credentials(UserName="modeled-user")
    iam.update_service_specific_credential(
        UserName="modeled-user", ServiceSpecificCredentialId=credential_id, Status="Inactive"
    )
    iam.reset_service_specific_credential(UserName="modeled-user", ServiceSpecificCredentialId=credential_id)
    error(iam.create_service_specific_credential, UserName="modeled-user", ServiceName="s3.amazonaws.com")
    iam.delete_service_specific_credential(UserName="modeled-user", ServiceSpecificCredentialId=credential_id)

    iam.list_policies(Scope="AWS", MaxItems=3)
    iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/job-function/Billing")
    iam.list_policy_versions(PolicyArn="arn:aws:iam::aws:policy/job-function/Billing")
    simulated = json.dumps({"Version": "2012-10-17", "Statement": [allow("s3:GetObject")]})
    iam.simulate_custom_policy(
        PolicyInputList=[simulated], ActionNames=["s3:GetObject"], ResourceArns=["arn:aws:s3:::b/k"]
    )
    assert {"GetInstanceProfile", "GetServiceLinkedRoleDeletionStatus", "ResetServiceSpecificCredential"} <= set(
        CHECKED
    )


def test_get_federation_token_answers_modeled_elements(broker: LiveBroker, iam: Any) -> None:
    sts = _checked(admin_client(broker, "sts"), "sts")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allow("s3:*")]})
    answer = sts.get_federation_token(Name="modeled", Policy=policy, Tags=[{"Key": "k", "Value": "v"}])
    assert answer["FederatedUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/modeled"
    error(sts.get_federation_token, Name="x")
    assert "GetFederationToken" in CHECKED
