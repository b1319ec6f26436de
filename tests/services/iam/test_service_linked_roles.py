"""Service-linked roles through boto3: creation as AWS names and places them, refusals, deletion tasks."""

from __future__ import annotations

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

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_created_as_aws_names_and_places_it(iam: Any) -> None:
    role = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com", Description="for ECS")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForECS"
    assert role["Path"] == "/aws-service-role/ecs.amazonaws.com/"
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    assert role["RoleId"].startswith("AROA") and "MaxSessionDuration" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": ["ecs.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
    ]
    fetched = iam.get_role(RoleName="AWSServiceRoleForECS")["Role"]
    assert fetched["Description"] == "for ECS" and fetched["MaxSessionDuration"] == 3600
    assert error(iam.create_service_linked_role, AWSServiceName="ecs.amazonaws.com") == (
        "InvalidInput",
        "Service role name AWSServiceRoleForECS has been taken in this account, please try a different suffix.",
    )


def test_custom_suffix_rules(iam: Any) -> None:
    first = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]
    assert first["RoleName"] == "AWSServiceRoleForAutoScaling"
    second = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="batch")["Role"]
    assert second["RoleName"] == "AWSServiceRoleForAutoScaling_batch"
    assert second["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert error(iam.create_service_linked_role, AWSServiceName="es.amazonaws.com", CustomSuffix="two") == (
        "InvalidInput",
        "Custom suffix is not allowed for es.amazonaws.com",
    )
    code_, message = error(
        iam.create_service_linked_role, AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="bad suffix"
    )
    assert code_ == "ValidationError" and "customSuffix" in message


@pytest.mark.parametrize("service", ["not-a-service", "example.com", "ecs.amazonaws.com.evil.example"])
def test_bad_service_names(iam: Any, service: str) -> None:
    assert error(iam.create_service_linked_role, AWSServiceName=service) == (
        "InvalidInput",
        f"Invalid service name: {service}",
    )


def test_bad_service_name_pattern(iam: Any) -> None:
    code_, message = error(iam.create_service_linked_role, AWSServiceName="ecs amazonaws com")
    assert code_ == "ValidationError" and "aWSServiceName" in message


def test_ordinary_role_actions_are_refused(iam: Any) -> None:
    iam.create_service_linked_role(AWSServiceName="rds.amazonaws.com")
    name = "AWSServiceRoleForRDS"
    refused = (
        "UnmodifiableEntity",
        f"Cannot perform the operation on the protected role '{name}' - this role is only modifiable by AWS",
    )
    trust = document({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    assert error(iam.delete_role, RoleName=name) == refused
    assert error(iam.update_assume_role_policy, RoleName=name, PolicyDocument=trust) == refused
    assert error(iam.update_role, RoleName=name, MaxSessionDuration=7200) == refused
    assert error(iam.put_role_policy, RoleName=name, PolicyName="p", PolicyDocument=document(allow("s3:*"))) == refused
    assert error(iam.delete_role_policy, RoleName=name, PolicyName="p") == refused
    assert error(iam.attach_role_policy, RoleName=name, PolicyArn=READ_ONLY) == refused
    assert error(iam.detach_role_policy, RoleName=name, PolicyArn=READ_ONLY) == refused
    assert error(iam.put_role_permissions_boundary, RoleName=name, PermissionsBoundary=READ_ONLY) == refused
    assert error(iam.delete_role_permissions_boundary, RoleName=name) == refused
    # The description may change, as in AWS.
    assert iam.update_role_description(RoleName=name, Description="edited")["Role"]["Description"] == "edited"
    # Nobody may create an ordinary role under the reserved path.
    code_, message = error(
        iam.create_role, RoleName="sneaky", Path="/aws-service-role/rds.amazonaws.com/", AssumeRolePolicyDocument=trust
    )
    assert code_ == "InvalidInput" and "/aws-service-role/" in message


def test_deletion_and_its_status(iam: Any) -> None:
    iam.create_service_linked_role(AWSServiceName="elasticache.amazonaws.com")
    task_id = iam.delete_service_linked_role(RoleName="AWSServiceRoleForElastiCache")["DeletionTaskId"]
    assert task_id.startswith("task/aws-service-role/elasticache.amazonaws.com/AWSServiceRoleForElastiCache/")
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task_id)
    assert status["Status"] == "SUCCEEDED" and "Reason" not in status
    assert error(iam.get_role, RoleName="AWSServiceRoleForElastiCache")[0] == "NoSuchEntity"
    unknown = "task/aws-service-role/elasticache.amazonaws.com/AWSServiceRoleForElastiCache/nope"
    assert error(iam.get_service_linked_role_deletion_status, DeletionTaskId=unknown) == (
        "NoSuchEntity",
        f"Deletion task {unknown} cannot be found.",
    )
    iam.create_role(
        RoleName="plain",
        AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ),
    )
    assert error(iam.delete_service_linked_role, RoleName="plain") == (
        "InvalidInput",
        "Role plain is not a service-linked role.",
    )
    assert error(iam.delete_service_linked_role, RoleName="ghost")[0] == "NoSuchEntity"


def test_deletion_fails_while_an_instance_profile_holds_the_role(iam: Any) -> None:
    iam.create_service_linked_role(AWSServiceName="eks.amazonaws.com")
    iam.create_instance_profile(InstanceProfileName="eks-nodes")
    iam.add_role_to_instance_profile(InstanceProfileName="eks-nodes", RoleName="AWSServiceRoleForAmazonEKS")
    task_id = iam.delete_service_linked_role(RoleName="AWSServiceRoleForAmazonEKS")["DeletionTaskId"]
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task_id)
    assert status["Status"] == "FAILED" and status["Reason"]["Reason"] == "The role is in an instance profile."
    assert iam.get_role(RoleName="AWSServiceRoleForAmazonEKS")["Role"]


def test_authorized_with_the_service_name(broker: LiveBroker, iam: Any) -> None:
    policy = document(
        allow(
            "iam:CreateServiceLinkedRole",
            f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/*",
            Condition={"StringEquals": {"iam:AWSServiceName": "guardduty.amazonaws.com"}},
        )
    )
    key, secret = user_with_key(iam, "slr-maker", policy=policy)
    maker = client(broker, "iam", key, secret)
    assert maker.create_service_linked_role(AWSServiceName="guardduty.amazonaws.com")["Role"]["RoleName"] == (
        "AWSServiceRoleForAmazonGuardDuty"
    )
    code_, message = error(maker.create_service_linked_role, AWSServiceName="config.amazonaws.com")
    assert code_ == "AccessDenied" and "iam:CreateServiceLinkedRole" in message
    assert error(maker.delete_service_linked_role, RoleName="AWSServiceRoleForAmazonGuardDuty")[0] == "AccessDenied"
