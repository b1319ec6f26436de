"""The IAM actions federation needs, through boto3 against a live broker over HTTP."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from botocore.exceptions import ClientError

from broker.services.iam import access_keys, users
from broker.services.setup import bootstrap_admin
from broker.store import models
from tests.support.aws import client, code
from tests.support.brokers import LiveBroker
from tests.support.metadata import idp_metadata_xml

PROVIDER = "arn:aws:iam::123456789012:saml-provider/okta"


@pytest.fixture
def iam(broker: LiveBroker) -> object:
    admin = bootstrap_admin(broker.runtime)
    return client(broker, "iam", admin.access_key_id, admin.secret_access_key)


def trust(provider: str = PROVIDER) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithSAML"}
            ],
        }
    )


def test_saml_providers(iam: object) -> None:
    metadata = idp_metadata_xml("https://okta.example/exk1")
    created = iam.create_saml_provider(
        Name="okta",
        SAMLMetadataDocument=metadata,  # type: ignore[attr-defined]
        Tags=[{"Key": "team", "Value": "identity"}],
    )
    assert created["SAMLProviderArn"] == PROVIDER
    got = iam.get_saml_provider(SAMLProviderArn=PROVIDER)  # type: ignore[attr-defined]
    assert got["SAMLMetadataDocument"] == metadata
    assert got["Tags"] == [{"Key": "team", "Value": "identity"}]
    listed = iam.list_saml_providers()["SAMLProviderList"]  # type: ignore[attr-defined]
    assert [p["Arn"] for p in listed] == [PROVIDER]

    with pytest.raises(ClientError) as duplicate:
        iam.create_saml_provider(Name="OKTA", SAMLMetadataDocument=metadata)  # type: ignore[attr-defined]
    assert code(duplicate) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as invalid:
        iam.create_saml_provider(Name="bad", SAMLMetadataDocument="<md:EntityDescriptor " + "x" * 1000)  # type: ignore[attr-defined]
    assert code(invalid) == "InvalidInput"
    with pytest.raises(ClientError) as missing:
        iam.get_saml_provider(SAMLProviderArn="arn:aws:iam::123456789012:saml-provider/nope")  # type: ignore[attr-defined]
    assert code(missing) == "NoSuchEntity"


def test_roles(iam: object) -> None:
    created = iam.create_role(
        RoleName="Engineers",
        Path="/fed/",
        AssumeRolePolicyDocument=trust(),  # type: ignore[attr-defined]
        Description="engineering",
        MaxSessionDuration=7200,
        Tags=[{"Key": "cost-center", "Value": "42"}],
    )["Role"]
    assert created["Arn"] == "arn:aws:iam::123456789012:role/fed/Engineers"
    assert created["RoleId"].startswith("AROA") and len(created["RoleId"]) == 21
    assert "MaxSessionDuration" not in created  # CreateRole's answer leaves it out, as AWS's does
    role = iam.get_role(RoleName="engineers")["Role"]  # type: ignore[attr-defined]  # names are case-insensitive
    assert role["RoleName"] == "Engineers"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Federated": PROVIDER}
    assert role["Tags"] == [{"Key": "cost-center", "Value": "42"}]

    iam.update_assume_role_policy(
        RoleName="Engineers", PolicyDocument=trust("arn:aws:iam::123456789012:saml-provider/x")
    )  # type: ignore[attr-defined]
    updated = iam.get_role(RoleName="Engineers")["Role"]  # type: ignore[attr-defined]
    assert updated["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Federated"].endswith("/x")
    iam.put_role_policy(
        RoleName="Engineers",
        PolicyName="read",
        PolicyDocument=json.dumps(  # type: ignore[attr-defined]
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]}
        ),
    )

    with pytest.raises(ClientError) as duplicate:
        iam.create_role(RoleName="ENGINEERS", AssumeRolePolicyDocument=trust())  # type: ignore[attr-defined]
    assert code(duplicate) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as malformed:
        iam.create_role(
            RoleName="Bad", AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}'
        )  # type: ignore[attr-defined]
    assert code(malformed) == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as duration:
        iam.create_role(RoleName="Long", AssumeRolePolicyDocument=trust(), MaxSessionDuration=50000)  # type: ignore[attr-defined]
    assert code(duration) == "ValidationError"
    with pytest.raises(ClientError) as missing:
        iam.get_role(RoleName="Nobody")  # type: ignore[attr-defined]
    assert code(missing) == "NoSuchEntity"
    with pytest.raises(ClientError) as bad_inline:
        iam.put_role_policy(RoleName="Engineers", PolicyName="p", PolicyDocument='{"Statement": []')  # type: ignore[attr-defined]
    assert code(bad_inline) == "MalformedPolicyDocument"


def test_a_principal_without_policy_is_denied_and_audited(broker: LiveBroker) -> None:
    runtime = broker.runtime
    with runtime.db.transaction() as session:
        user = users.create_user(session, "123456789012", "intern", "/", runtime.now())
        key, secret = access_keys.create_access_key(session, user, runtime.box, runtime.now())
        key_id = key.access_key_id
    iam = client(broker, "iam", key_id, secret)
    with pytest.raises(ClientError) as denied:
        iam.create_role(RoleName="Sneaky", AssumeRolePolicyDocument=trust())  # type: ignore[attr-defined]
    assert code(denied) == "AccessDenied"
    message = denied.value.response["Error"]["Message"]
    assert "arn:aws:iam::123456789012:user/intern" in message and "iam:CreateRole" in message
    assert "arn:aws:iam::123456789012:role/Sneaky" in message
    # GetCallerIdentity needs no permission, as in AWS
    identity = client(broker, "sts", key_id, secret).get_caller_identity()  # type: ignore[attr-defined]
    assert identity["Arn"] == "arn:aws:iam::123456789012:user/intern"
    with runtime.db.transaction() as session:
        events = session.query(models.AuditEvent).filter(models.AuditEvent.event_name == "CreateRole").all()
        assert [(e.error_code, e.access_key_id) for e in events] == [("AccessDenied", key_id)]
        assert session.get(models.AccessKey, key_id).last_used_at is not None  # type: ignore[union-attr]


def test_presigned_get_caller_identity(broker: LiveBroker) -> None:
    admin = bootstrap_admin(broker.runtime)
    sts = client(broker, "sts", admin.access_key_id, admin.secret_access_key)
    url = sts.generate_presigned_url("get_caller_identity", HttpMethod="GET", ExpiresIn=60)  # type: ignore[attr-defined]
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert "<Arn>arn:aws:iam::123456789012:user/admin</Arn>" in response.text


def test_unsigned_and_unknown_actions(broker: LiveBroker) -> None:
    unsigned = requests.post(
        broker.url + "/", data={"Action": "GetRole", "Version": "2010-05-08", "RoleName": "x"}, timeout=10
    )
    assert unsigned.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in unsigned.text
    unknown = requests.post(broker.url + "/", data={"Action": "LaunchRockets", "Version": "2010-05-08"}, timeout=10)
    assert unknown.status_code == 400 and "<Code>InvalidAction</Code>" in unknown.text
    missing = requests.post(broker.url + "/", data={"Version": "2010-05-08"}, timeout=10)
    assert missing.status_code == 400 and "<Code>MissingAction</Code>" in missing.text


def test_signature_errors_over_http(broker: LiveBroker, iam: object) -> None:
    incomplete = requests.post(
        broker.url + "/",
        data={"Action": "ListRoles", "Version": "2010-05-08"},
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request"
        },
        timeout=10,
    )
    assert incomplete.status_code == 400
    assert "<Code>IncompleteSignature</Code>" in incomplete.text

    real_clock = broker.runtime.clock
    broker.runtime.clock = lambda: real_clock() + dt.timedelta(minutes=20)  # beyond the 15-minute window
    try:
        with pytest.raises(ClientError) as expired:
            iam.get_user()  # type: ignore[attr-defined]
    finally:
        broker.runtime.clock = real_clock
    assert code(expired) == "RequestExpired"
    assert iam.get_user()["User"]["UserName"] == "admin"  # type: ignore[attr-defined]
