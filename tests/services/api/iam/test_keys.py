"""Access keys, SAML providers, the account alias and authorization details, through boto3."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from broker.store import models
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
from tests.support.metadata import idp_metadata_xml


def test_access_key_lifecycle(broker: LiveBroker, iam: Any) -> None:
    iam.create_user(UserName="keyholder")
    iam.put_user_policy(UserName="keyholder", PolicyName="self", PolicyDocument=document(allow("iam:*AccessKey*")))
    first = iam.create_access_key(UserName="keyholder")["AccessKey"]
    assert first["UserName"] == "keyholder" and first["Status"] == "Active"
    assert first["AccessKeyId"].startswith("AKIA") and len(first["AccessKeyId"]) == 20
    assert len(first["SecretAccessKey"]) == 40

    own = client(broker, "iam", first["AccessKeyId"], first["SecretAccessKey"])
    second = own.create_access_key()["AccessKey"]  # no UserName: the caller's own
    assert second["UserName"] == "keyholder"
    assert error(iam.create_access_key, UserName="keyholder") == (
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    )
    listed = iam.list_access_keys(UserName="keyholder")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [first["AccessKeyId"], second["AccessKeyId"]]
    assert all("SecretAccessKey" not in k for k in listed)
    page = own.list_access_keys(MaxItems=1)
    assert page["IsTruncated"] and len(page["AccessKeyMetadata"]) == 1

    used = iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"])
    assert used["UserName"] == "keyholder"
    assert used["AccessKeyLastUsed"]["ServiceName"] == "iam" and used["AccessKeyLastUsed"]["Region"] == "us-east-1"
    assert "LastUsedDate" in used["AccessKeyLastUsed"]
    never = iam.get_access_key_last_used(AccessKeyId=second["AccessKeyId"])["AccessKeyLastUsed"]
    assert never == {"ServiceName": "N/A", "Region": "N/A"}

    # Deactivated: refused at once; reactivated: works again.
    iam.update_access_key(UserName="keyholder", AccessKeyId=first["AccessKeyId"], Status="Inactive")
    assert error(own.list_access_keys)[0] == "InvalidClientTokenId"
    assert iam.list_access_keys(UserName="keyholder")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    iam.update_access_key(UserName="keyholder", AccessKeyId=first["AccessKeyId"], Status="Active")
    assert own.list_access_keys()["AccessKeyMetadata"]
    assert (
        error(iam.update_access_key, UserName="keyholder", AccessKeyId=first["AccessKeyId"], Status="Paused")[0]
        == "ValidationError"
    )
    assert error(iam.update_access_key, UserName="admin", AccessKeyId=first["AccessKeyId"], Status="Inactive") == (
        "NoSuchEntity",
        f"The Access Key with id {first['AccessKeyId']} cannot be found.",
    )
    assert error(iam.delete_access_key, UserName="keyholder", AccessKeyId="short")[0] == "ValidationError"

    # Deleted: refused at once.
    own.delete_access_key(AccessKeyId=first["AccessKeyId"])
    assert error(own.list_access_keys)[0] == "InvalidClientTokenId"
    iam.delete_access_key(UserName="keyholder", AccessKeyId=second["AccessKeyId"])
    assert iam.list_access_keys(UserName="keyholder")["AccessKeyMetadata"] == []

    # Secrets never reach the audit trail.
    with broker.runtime.db.transaction() as session:
        records = [e.record for e in session.scalars(select(models.AuditEvent))]
    text = json.dumps(records)
    assert first["SecretAccessKey"] not in text and second["SecretAccessKey"] not in text
    created = [
        r
        for r in records
        if r["eventName"] == "CreateAccessKey" and r["eventSource"] == "iam.amazonaws.com" and not r.get("errorCode")
    ]
    assert created and all("secretAccessKey" not in r["responseElements"]["accessKey"] for r in created)
    assert any(r["requestParameters"] == {"userName": "keyholder"} for r in created)


def test_access_keys_of_a_role_session_need_a_user_name(broker: LiveBroker, iam: Any) -> None:
    iam.create_role(
        RoleName="key-session-role",
        AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.put_role_policy(RoleName="key-session-role", PolicyName="all", PolicyDocument=document(allow("*")))
    sts = admin_client(broker, "sts")
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/key-session-role", RoleSessionName="keys")[
        "Credentials"
    ]
    session_iam = client(
        broker, "iam", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    assert error(session_iam.list_access_keys) == (
        "ValidationError",
        "Must specify userName when calling with non-User credentials",
    )
    assert error(session_iam.get_user)[0] == "ValidationError"
    assert session_iam.list_access_keys(UserName="admin")["AccessKeyMetadata"]


def test_saml_provider_lifecycle_and_tags(iam: Any) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/corp"
    metadata = idp_metadata_xml("https://idp.corp.example/one")
    assert iam.create_saml_provider(Name="corp", SAMLMetadataDocument=metadata)["SAMLProviderArn"] == arn
    replacement = idp_metadata_xml("https://idp.corp.example/two")
    assert iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=replacement)["SAMLProviderArn"] == arn
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == replacement
    assert error(iam.update_saml_provider, SAMLProviderArn=arn, SAMLMetadataDocument="<x/>" * 300)[0] == "InvalidInput"

    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "id"}])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"},
        {"Key": "team", "Value": "id"},
    ]
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["env"])
    assert iam.get_saml_provider(SAMLProviderArn=arn)["Tags"] == [{"Key": "team", "Value": "id"}]
    assert arn in [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]

    iam.delete_saml_provider(SAMLProviderArn=arn)
    assert error(iam.get_saml_provider, SAMLProviderArn=arn)[0] == "NoSuchEntity"
    assert error(iam.delete_saml_provider, SAMLProviderArn=arn)[0] == "NoSuchEntity"
    assert error(iam.tag_saml_provider, SAMLProviderArn=arn, Tags=[{"Key": "k", "Value": "v"}])[0] == "NoSuchEntity"


def test_account_alias(broker: LiveBroker, iam: Any) -> None:
    assert iam.list_account_aliases()["AccountAliases"] == []
    iam.create_account_alias(AccountAlias="example-corp")
    assert iam.list_account_aliases()["AccountAliases"] == ["example-corp"]
    iam.create_account_alias(AccountAlias="example-two")  # an account has one alias: this replaces it
    assert iam.list_account_aliases()["AccountAliases"] == ["example-two"]
    assert error(iam.create_account_alias, AccountAlias="Not_Valid")[0] == "ValidationError"
    assert error(iam.delete_account_alias, AccountAlias="example-corp") == (
        "NoSuchEntity",
        "The account alias example-corp cannot be found.",
    )
    with broker.runtime.db.transaction() as session:
        session.add(models.Account(id="210987654321", alias="taken-alias", created_at=broker.runtime.now()))
    assert error(iam.create_account_alias, AccountAlias="taken-alias") == (
        "EntityAlreadyExists",
        "The account alias taken-alias already exists.",
    )
    iam.delete_account_alias(AccountAlias="example-two")
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_get_account_authorization_details(iam: Any) -> None:
    iam.create_user(UserName="detail-user", Tags=[{"Key": "k", "Value": "v"}])
    iam.create_group(GroupName="detail-group")
    iam.add_user_to_group(UserName="detail-user", GroupName="detail-group")
    iam.put_user_policy(UserName="detail-user", PolicyName="own", PolicyDocument=document(allow("iam:GetUser")))
    iam.put_group_policy(GroupName="detail-group", PolicyName="grp", PolicyDocument=document(allow("iam:GetGroup")))
    arn = iam.create_policy(PolicyName="DetailPolicy", PolicyDocument=document(allow("iam:List*")))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="detail-group", PolicyArn=arn)
    iam.attach_user_policy(UserName="detail-user", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")

    details = iam.get_account_authorization_details()
    user = next(u for u in details["UserDetailList"] if u["UserName"] == "detail-user")
    assert user["GroupList"] == ["detail-group"] and user["Tags"] == [{"Key": "k", "Value": "v"}]
    assert user["UserPolicyList"][0]["PolicyName"] == "own"
    assert user["UserPolicyList"][0]["PolicyDocument"]["Statement"][0]["Action"] == "iam:GetUser"
    assert user["AttachedManagedPolicies"][0]["PolicyName"] == "IAMReadOnlyAccess"
    group = next(g for g in details["GroupDetailList"] if g["GroupName"] == "detail-group")
    assert group["GroupPolicyList"][0]["PolicyName"] == "grp"
    assert group["AttachedManagedPolicies"] == [{"PolicyName": "DetailPolicy", "PolicyArn": arn}]
    policies = {p["PolicyName"]: p for p in details["Policies"]}
    assert policies["DetailPolicy"]["AttachmentCount"] == 1
    assert policies["DetailPolicy"]["PolicyVersionList"][0]["IsDefaultVersion"] is True
    assert "IAMReadOnlyAccess" in policies and "AdministratorAccess" not in policies  # AWS ones only when used

    only_groups = iam.get_account_authorization_details(Filter=["Group"])
    assert only_groups["UserDetailList"] == [] and only_groups["GroupDetailList"]
    pages = list(iam.get_paginator("get_account_authorization_details").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) > 1
    users = [u["UserName"] for p in pages for u in p["UserDetailList"]]
    assert "detail-user" in users and len(users) == len(set(users))
    assert error(iam.get_account_authorization_details, Filter=["Robots"])[0] == "ValidationError"
