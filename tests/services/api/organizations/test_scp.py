"""Service control policies in real decisions, through boto3 against a live broker.

One organization per module broker: Root -> Workloads -> Production -> Payments (three OU levels)
with a member account created in Payments. The member account's administrator reaches it through
``OrganizationAccountAccessRole`` (AdministratorAccess attached), and is bound by the SCPs of every
level; the management account's administrator is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from broker.iam import orgs
from tests.support.aws import (  # noqa: F401  (module_broker, module_iam: the "broker" and "iam" fixtures)
    ACCOUNT,
    admin_client,
    allow,
    client,
    deny,
    document,
    error,
    module_broker,
    module_iam,
    user_with_key,
)
from tests.support.brokers import LiveBroker


@dataclass
class Hierarchy:
    org: Any  # the management account's Organizations client
    root_id: str
    workloads: str
    production: str
    payments: str
    member: str  # account id
    member_iam: Any  # IAM client of an OrganizationAccountAccessRole session in the member account
    member_sts: Any
    member_creds: dict[str, str]
    member_org: Any


def _assume_access_role(broker: LiveBroker, sts: Any, account: str, name: str) -> dict[str, str]:
    role_arn = f"arn:aws:iam::{account}:role/{orgs.DEFAULT_ACCESS_ROLE}"
    return sts.assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]


def _session_client(broker: LiveBroker, service: str, creds: dict[str, str]) -> Any:
    return client(broker, service, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


@pytest.fixture(scope="module")
def hierarchy(broker: LiveBroker) -> Hierarchy:
    org = admin_client(broker, "organizations")
    org.create_organization(FeatureSet="ALL")
    root_id = org.list_roots()["Roots"][0]["Id"]
    assert org.list_roots()["Roots"][0]["PolicyTypes"] == [
        {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}
    ]  # on from the start
    workloads = org.create_organizational_unit(ParentId=root_id, Name="Workloads")["OrganizationalUnit"]["Id"]
    production = org.create_organizational_unit(ParentId=workloads, Name="Production")["OrganizationalUnit"]["Id"]
    payments = org.create_organizational_unit(ParentId=production, Name="Payments")["OrganizationalUnit"]["Id"]
    status = org.create_account(Email="payments@example.com", AccountName="Payments")["CreateAccountStatus"]
    status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED"
    member = status["AccountId"]
    org.move_account(AccountId=member, SourceParentId=root_id, DestinationParentId=payments)
    sts = admin_client(broker, "sts")
    creds = _assume_access_role(broker, sts, member, "admin")
    return Hierarchy(
        org,
        root_id,
        workloads,
        production,
        payments,
        member,
        _session_client(broker, "iam", creds),
        _session_client(broker, "sts", creds),
        creds,
        _session_client(broker, "organizations", creds),
    )


def _scp(org: Any, name: str, *statements: dict[str, Any]) -> str:
    policy = org.create_policy(
        Name=name, Description=name, Type="SERVICE_CONTROL_POLICY", Content=document(*statements)
    )["Policy"]
    return str(policy["PolicySummary"]["Id"])


def test_member_account_administrator_reaches_the_account_through_the_access_role(hierarchy: Hierarchy) -> None:
    identity = hierarchy.member_sts.get_caller_identity()
    assert identity["Account"] == hierarchy.member
    assert identity["Arn"] == f"arn:aws:sts::{hierarchy.member}:assumed-role/OrganizationAccountAccessRole/admin"
    # AdministratorAccess under FullAWSAccess at every level: IAM works in the member account.
    hierarchy.member_iam.create_user(UserName="before-scp")
    hierarchy.member_iam.delete_user(UserName="before-scp")


def test_a_deny_at_the_middle_level_binds_the_member_account_and_not_the_management_account(
    broker: LiveBroker, iam: Any, hierarchy: Hierarchy
) -> None:
    org = hierarchy.org
    policy_id = _scp(org, "NoIamUsers", deny(["iam:CreateUser", "iam:CreateAccessKey"]))
    org.attach_policy(PolicyId=policy_id, TargetId=hierarchy.production)
    try:
        code, message = error(hierarchy.member_iam.create_user, UserName="blocked")
        assert code == "AccessDenied"
        assert "with an explicit deny in a service control policy" in message
        assert f"arn:aws:sts::{hierarchy.member}:assumed-role/OrganizationAccountAccessRole/admin" in message
        # Other actions still allowed by FullAWSAccess at every level.
        hierarchy.member_iam.create_role(
            RoleName="still-fine",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{hierarchy.member}:root"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        hierarchy.member_iam.delete_role(RoleName="still-fine")
        # The management account is exempt from SCPs: its administrator creates users freely.
        iam.create_user(UserName="management-user")
        iam.delete_user(UserName="management-user")
    finally:
        org.detach_policy(PolicyId=policy_id, TargetId=hierarchy.production)
        org.delete_policy(PolicyId=policy_id)
    hierarchy.member_iam.create_user(UserName="after-detach")
    hierarchy.member_iam.delete_user(UserName="after-detach")


def test_an_allow_list_at_the_account_level_limits_the_member_to_what_it_names(hierarchy: Hierarchy) -> None:
    org = hierarchy.org
    read_only = _scp(org, "ReadIamOnly", allow(["iam:Get*", "iam:List*", "sts:GetCallerIdentity"]))
    org.attach_policy(PolicyId=read_only, TargetId=hierarchy.member)
    org.detach_policy(PolicyId=orgs.FULL_AWS_ACCESS_ID, TargetId=hierarchy.member)
    try:
        hierarchy.member_iam.list_roles()
        code, message = error(hierarchy.member_iam.create_user, UserName="blocked")
        assert code == "AccessDenied"
        assert "because no service control policy allows the iam:CreateUser action" in message
    finally:
        org.attach_policy(PolicyId=orgs.FULL_AWS_ACCESS_ID, TargetId=hierarchy.member)
        org.detach_policy(PolicyId=read_only, TargetId=hierarchy.member)
        org.delete_policy(PolicyId=read_only)
    hierarchy.member_iam.create_user(UserName="allowed-again")
    hierarchy.member_iam.delete_user(UserName="allowed-again")


def test_every_level_must_allow_an_allow_list_at_the_top_ou_applies_below_it(hierarchy: Hierarchy) -> None:
    org = hierarchy.org
    narrow = _scp(org, "OnlyListRoles", allow("iam:ListRoles"))
    org.attach_policy(PolicyId=narrow, TargetId=hierarchy.workloads)
    org.detach_policy(PolicyId=orgs.FULL_AWS_ACCESS_ID, TargetId=hierarchy.workloads)
    try:
        hierarchy.member_iam.list_roles()
        # FullAWSAccess is still attached to Production, Payments and the account: not enough.
        code, _ = error(hierarchy.member_iam.list_users)
        assert code == "AccessDenied"
    finally:
        org.attach_policy(PolicyId=orgs.FULL_AWS_ACCESS_ID, TargetId=hierarchy.workloads)
        org.detach_policy(PolicyId=narrow, TargetId=hierarchy.workloads)
        org.delete_policy(PolicyId=narrow)
    hierarchy.member_iam.list_users()


def test_moving_the_account_out_of_the_ou_takes_it_out_of_the_ous_scps(hierarchy: Hierarchy) -> None:
    org = hierarchy.org
    policy_id = _scp(org, "NoRoles", deny("iam:CreateRole"))
    org.attach_policy(PolicyId=policy_id, TargetId=hierarchy.payments)
    trust = document(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{hierarchy.member}:root"}, "Action": "sts:AssumeRole"}
    )
    try:
        assert (
            error(hierarchy.member_iam.create_role, RoleName="r1", AssumeRolePolicyDocument=trust)[0] == "AccessDenied"
        )
        org.move_account(
            AccountId=hierarchy.member, SourceParentId=hierarchy.payments, DestinationParentId=hierarchy.production
        )
        hierarchy.member_iam.create_role(RoleName="r1", AssumeRolePolicyDocument=trust)
        hierarchy.member_iam.delete_role(RoleName="r1")
    finally:
        parent = org.list_parents(ChildId=hierarchy.member)["Parents"][0]["Id"]
        if parent != hierarchy.payments:
            org.move_account(AccountId=hierarchy.member, SourceParentId=parent, DestinationParentId=hierarchy.payments)
        org.detach_policy(PolicyId=policy_id, TargetId=hierarchy.payments)
        org.delete_policy(PolicyId=policy_id)


def test_org_condition_keys_are_in_the_context(broker: LiveBroker, hierarchy: Hierarchy) -> None:
    org = hierarchy.org
    org_id = org.describe_organization()["Organization"]["Id"]
    path = f"{org_id}/{hierarchy.root_id}/{hierarchy.workloads}/{hierarchy.production}/{hierarchy.payments}/"
    # A Deny keyed on the principal's org path and org id; ResourceOrgID names the resource's org.
    policy_id = _scp(
        org,
        "OrgKeys",
        deny("iam:CreateGroup", Condition={"StringEquals": {"aws:PrincipalOrgID": org_id}}),
        deny("iam:CreatePolicy", Condition={"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [path]}}),
        deny("iam:TagRole", Condition={"StringEquals": {"aws:ResourceOrgID": org_id}}),
        deny("iam:UntagRole", Condition={"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}),
    )
    org.attach_policy(PolicyId=policy_id, TargetId=hierarchy.root_id)
    try:
        member_iam = hierarchy.member_iam
        assert error(member_iam.create_group, GroupName="g")[0] == "AccessDenied"
        assert (
            error(member_iam.create_policy, PolicyName="p", PolicyDocument=document(allow("s3:*")))[0] == "AccessDenied"
        )
        role_arn = f"arn:aws:iam::{hierarchy.member}:role/{orgs.DEFAULT_ACCESS_ROLE}"
        assert role_arn.endswith("OrganizationAccountAccessRole")
        code, _ = error(member_iam.tag_role, RoleName=orgs.DEFAULT_ACCESS_ROLE, Tags=[{"Key": "k", "Value": "v"}])
        assert code == "AccessDenied"
        assert error(member_iam.untag_role, RoleName=orgs.DEFAULT_ACCESS_ROLE, TagKeys=["k"])[0] == "AccessDenied"
    finally:
        org.detach_policy(PolicyId=policy_id, TargetId=hierarchy.root_id)
        org.delete_policy(PolicyId=policy_id)
    member_iam.create_group(GroupName="g")
    member_iam.delete_group(GroupName="g")


def test_the_management_account_assumes_the_role_only_as_its_trust_policy_says(
    broker: LiveBroker, iam: Any, hierarchy: Hierarchy
) -> None:
    role = hierarchy.member_iam.get_role(RoleName=orgs.DEFAULT_ACCESS_ROLE)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    attached = hierarchy.member_iam.list_attached_role_policies(RoleName=orgs.DEFAULT_ACCESS_ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    # A management-account user without sts:AssumeRole in its identity policies cannot use it.
    iam.create_user(UserName="no-assume")
    key = iam.create_access_key(UserName="no-assume")["AccessKey"]
    try:
        sts = client(broker, "sts", key["AccessKeyId"], key["SecretAccessKey"])
        code, _ = error(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="denied")
        assert code == "AccessDenied"
    finally:
        iam.delete_access_key(UserName="no-assume", AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName="no-assume")


def _decision_response(
    broker: LiveBroker, creds: dict[str, str], action: str, resource: str, context: dict[str, Any] | None = None
) -> requests.Response:
    body = json.dumps({"action": action, "resource": resource, "context": context or {}}).encode()
    url = f"{broker.url}/v1/decisions"
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    credentials = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
    return requests.post(url, data=body, headers=dict(request.headers.items()), timeout=10)


def _decide(broker: LiveBroker, creds: dict[str, str], action: str, resource: str) -> dict[str, Any]:
    response = _decision_response(broker, creds, action, resource)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_decision_api_and_simulation_apply_the_scps(broker: LiveBroker, iam: Any, hierarchy: Hierarchy) -> None:
    org = hierarchy.org
    policy_id = _scp(org, "NoDeletes", deny("s3:DeleteObject"))
    org.attach_policy(PolicyId=policy_id, TargetId=hierarchy.workloads)
    try:
        bucket_object = "arn:aws:s3:::reports/q3.pdf"
        denied = _decide(broker, hierarchy.member_creds, "s3:DeleteObject", bucket_object)
        assert denied["decision"] == "ExplicitDeny"
        assert [m["policyType"] for m in denied["matchedStatements"]] == ["scp"]
        assert _decide(broker, hierarchy.member_creds, "s3:GetObject", bucket_object)["decision"] == "Allow"
        # An ARN naming its account: the broker derives aws:ResourceAccount, a caller cannot set it.
        queue = f"arn:aws:sqs:us-east-1:{hierarchy.member}:jobs"
        response = _decision_response(
            broker, hierarchy.member_creds, "sqs:SendMessage", queue, {"aws:ResourceAccount": "000000000000"}
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "ProtectedContextKey"
        # An ARN without one (S3): the service supplies it.
        supplied = _decision_response(
            broker, hierarchy.member_creds, "s3:GetObject", bucket_object, {"aws:ResourceOrgID": "o-example1234"}
        )
        assert supplied.status_code == 200

        role_arn = f"arn:aws:iam::{hierarchy.member}:role/{orgs.DEFAULT_ACCESS_ROLE}"
        results = hierarchy.member_iam.simulate_principal_policy(
            PolicySourceArn=role_arn, ActionNames=["s3:DeleteObject", "s3:GetObject"]
        )["EvaluationResults"]
        by_action = {r["EvalActionName"]: r for r in results}
        assert by_action["s3:DeleteObject"]["EvalDecision"] == "explicitDeny"
        assert by_action["s3:DeleteObject"]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
        assert by_action["s3:GetObject"]["EvalDecision"] == "allowed"
        assert by_action["s3:GetObject"]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
        # The management account is in the organization and never bound by SCPs.
        admin_arn = iam.get_user()["User"]["Arn"]
        management = iam.simulate_principal_policy(PolicySourceArn=admin_arn, ActionNames=["s3:DeleteObject"])
        result = management["EvaluationResults"][0]
        assert result["EvalDecision"] == "allowed"
        assert result["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    finally:
        org.detach_policy(PolicyId=policy_id, TargetId=hierarchy.workloads)
        org.delete_policy(PolicyId=policy_id)


def test_tags_on_ous_accounts_and_policies(hierarchy: Hierarchy) -> None:
    org = hierarchy.org
    policy_id = _scp(org, "Tagged", deny("s3:PutBucketPolicy"))
    try:
        for resource in (hierarchy.payments, hierarchy.member, policy_id, hierarchy.root_id):
            org.tag_resource(
                ResourceId=resource, Tags=[{"Key": "team", "Value": "payments"}, {"Key": "tier", "Value": "1"}]
            )
            org.untag_resource(ResourceId=resource, TagKeys=["tier"])
            assert org.list_tags_for_resource(ResourceId=resource)["Tags"] == [{"Key": "team", "Value": "payments"}]
            org.untag_resource(ResourceId=resource, TagKeys=["team"])
            assert org.list_tags_for_resource(ResourceId=resource)["Tags"] == []
        code, _ = error(org.tag_resource, ResourceId="ou-zzzz-zzzzzzzz", Tags=[{"Key": "a", "Value": "b"}])
        assert code == "TargetNotFoundException"
        too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        code, _ = error(org.tag_resource, ResourceId=policy_id, Tags=too_many)
        assert code == "ConstraintViolationException"
        # Member accounts cannot tag the organization's resources.
        assert (
            error(hierarchy.member_org.list_tags_for_resource, ResourceId=hierarchy.member)[0]
            == "AccessDeniedException"
        )
    finally:
        org.delete_policy(PolicyId=policy_id)


def test_a_trust_policy_can_admit_the_whole_organization_by_principal_org_id(
    broker: LiveBroker, hierarchy: Hierarchy
) -> None:
    org_id = hierarchy.org.describe_organization()["Organization"]["Id"]

    def trust(org: str) -> str:
        return document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org}},
            }
        )

    hierarchy.member_iam.create_role(RoleName="OrgWide", AssumeRolePolicyDocument=trust(org_id))
    try:
        role_arn = f"arn:aws:iam::{hierarchy.member}:role/OrgWide"
        sts = admin_client(broker, "sts")  # the management account's administrator: in the organization
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="org-member")["AssumedRoleUser"]
        assert assumed["Arn"] == f"arn:aws:sts::{hierarchy.member}:assumed-role/OrgWide/org-member"
        hierarchy.member_iam.update_assume_role_policy(RoleName="OrgWide", PolicyDocument=trust("o-someoneelse1"))
        code, _ = error(sts.assume_role, RoleArn=role_arn, RoleSessionName="org-member")
        assert code == "AccessDenied"
    finally:
        hierarchy.member_iam.delete_role(RoleName="OrgWide")


def test_an_encoded_authorization_message_is_read_only_in_its_own_account(
    broker: LiveBroker, iam: Any, hierarchy: Hierarchy
) -> None:
    # The member account's administrator may decode messages, but not the management account's:
    # they name its principals, tags and resources.
    key, secret = user_with_key(iam, "denied-in-management")
    code_, message = error(client(broker, "iam", key, secret).create_group, GroupName="nope")
    assert code_ == "AccessDenied"
    encoded = message.split("Encoded authorization failure message: ", 1)[1]
    code_, _ = error(hierarchy.member_sts.decode_authorization_message, EncodedMessage=encoded)
    assert code_ == "InvalidAuthorizationMessageException"
    decoded = admin_client(broker, "sts").decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"]
    assert json.loads(decoded)["context"]["principal"]["arn"].endswith(":user/denied-in-management")

    hierarchy.member_iam.create_user(UserName="member-user")
    member_key = hierarchy.member_iam.create_access_key(UserName="member-user")["AccessKey"]
    member_user_iam = client(broker, "iam", member_key["AccessKeyId"], member_key["SecretAccessKey"])
    code_, message = error(member_user_iam.create_group, GroupName="nope")
    assert code_ == "AccessDenied"
    encoded = message.split("Encoded authorization failure message: ", 1)[1]
    decoded = hierarchy.member_sts.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"]
    assert json.loads(decoded)["context"]["principal"]["arn"] == f"arn:aws:iam::{hierarchy.member}:user/member-user"


def test_a_session_policy_of_another_account_is_read_as_one_that_does_not_exist(
    broker: LiveBroker, iam: Any, hierarchy: Hierarchy
) -> None:
    # "The policies must exist in the same account as the role": were another account's read,
    # a session could probe its contents by what it may do.
    allows_list_roles = document(allow("iam:ListRoles"))
    theirs = hierarchy.member_iam.create_policy(PolicyName="theirs", PolicyDocument=allows_list_roles)["Policy"]["Arn"]
    ours = iam.create_policy(PolicyName="ours", PolicyDocument=allows_list_roles)["Policy"]["Arn"]
    iam.create_role(
        RoleName="probing",
        AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.put_role_policy(RoleName="probing", PolicyName="iam", PolicyDocument=document(allow("iam:*")))
    sts = admin_client(broker, "sts")
    for policy_arn, listed in ((ours, True), (theirs, False)):
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/probing", RoleSessionName="probe", PolicyArns=[{"arn": policy_arn}]
        )["Credentials"]
        session_iam = _session_client(broker, "iam", creds)
        if listed:
            assert session_iam.list_roles()["Roles"]
        else:
            assert error(session_iam.list_roles)[0] == "AccessDenied"
