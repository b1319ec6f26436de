"""CloudTrail LookupEvents with boto3 and the AWS CLI, over events real calls produced."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from broker.crypto.keys import audit_public_key_from_jwk, okp_thumbprint
from broker.services.audit.worker import seal
from broker.services.setup import bootstrap_admin
from tests.support.aws import ACCOUNT, allow, client, document, error, module_broker, module_iam, user_with_key
from tests.support.brokers import LiveBroker

__all__ = ["module_broker", "module_iam"]  # the module's live broker (SQLite, PostgreSQL) and admin
AWS = str(Path(sys.executable).with_name("aws"))


def admin_trail(broker: LiveBroker) -> Any:
    admin = bootstrap_admin(broker.runtime)
    return client(broker, "cloudtrail", admin.access_key_id, admin.secret_access_key)


def events(trail: Any, key: str, value: str, **kwargs: Any) -> list[dict[str, Any]]:
    found = trail.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], **kwargs)
    return list(found["Events"])


def record(event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(event["CloudTrailEvent"]))


def test_iam_calls_allowed_and_denied_are_found(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "lookup-denied")
    code, _ = error(client(broker, "iam", key, secret).list_users)
    assert code == "AccessDenied"
    trail = admin_trail(broker)

    created = [e for e in events(trail, "EventName", "CreateUser") if "lookup-denied" in e["CloudTrailEvent"]]
    assert len(created) == 1
    event = created[0]
    assert event["EventSource"] == "iam.amazonaws.com" and event["ReadOnly"] == "false"
    assert event["Username"] == "admin" and event["AccessKeyId"].startswith("AKIA")
    assert event["Resources"] == [
        {"ResourceType": "AWS::IAM::User", "ResourceName": f"arn:aws:iam::{ACCOUNT}:user/lookup-denied"}
    ]
    assert isinstance(event["EventTime"], dt.datetime)
    full = record(event)
    assert full["userIdentity"]["type"] == "IAMUser" and full["eventID"] == event["EventId"]
    assert full["recipientAccountId"] == ACCOUNT and full["requestID"]

    (denied,) = events(trail, "Username", "lookup-denied")
    assert denied["EventName"] == "ListUsers" and denied["ReadOnly"] == "true"
    assert record(denied)["errorCode"] == "AccessDenied"
    assert "is not authorized to perform: iam:ListUsers" in record(denied)["errorMessage"]
    assert [e["EventId"] for e in events(trail, "AccessKeyId", key)] == [denied["EventId"]]
    assert [e["EventId"] for e in events(trail, "EventId", denied["EventId"])] == [denied["EventId"]]
    by_name = events(trail, "ResourceName", "lookup-denied")  # the short name, as people type it
    assert created[0]["EventId"] in [e["EventId"] for e in by_name]
    assert all(e["ReadOnly"] == "true" for e in events(trail, "ReadOnly", "true"))
    assert {e["EventSource"] for e in events(trail, "EventSource", "iam.amazonaws.com")} == {"iam.amazonaws.com"}
    assert {e["EventName"] for e in events(trail, "ResourceType", "AWS::IAM::User")} >= {"CreateUser"}


def test_role_sessions_are_found_with_their_session_context(broker: LiveBroker, iam: Any) -> None:
    trust = document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        }
    )
    iam.create_role(RoleName="lookup-role", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="lookup-role", PolicyName="p", PolicyDocument=document(allow("sts:*")))
    key, secret = user_with_key(
        iam, "lookup-assumer", policy=document(allow(["sts:AssumeRole", "sts:SetSourceIdentity"]))
    )
    sts = client(broker, "sts", key, secret)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/lookup-role", RoleSessionName="s1", SourceIdentity="alice"
    )["Credentials"]
    session = client(
        broker, "sts", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    session.get_caller_identity()
    trail = admin_trail(broker)

    (assumed,) = [e for e in events(trail, "EventName", "AssumeRole") if "lookup-role" in e["CloudTrailEvent"]]
    assert assumed["Username"] == "lookup-assumer"
    assert {"ResourceType": "AWS::IAM::Role", "ResourceName": f"arn:aws:iam::{ACCOUNT}:role/lookup-role"} in assumed[
        "Resources"
    ]
    (called,) = events(trail, "AccessKeyId", credentials["AccessKeyId"])
    identity = record(called)["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["sessionContext"]["sourceIdentity"] == "alice"
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert identity["sessionContext"]["sessionIssuer"]["userName"] == "lookup-role"
    text = json.dumps([assumed, called], default=str)
    assert credentials["SecretAccessKey"] not in text and credentials["SessionToken"] not in text
    assert secret not in text


def test_paging_time_ranges_and_bad_requests(broker: LiveBroker, iam: Any) -> None:
    trail = admin_trail(broker)
    for name in ("page-a", "page-b", "page-c"):
        iam.create_group(GroupName=name)
    first = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateGroup"}], MaxResults=2
    )
    assert [json.loads(e["CloudTrailEvent"])["requestParameters"]["groupName"] for e in first["Events"]] == [
        "page-c",
        "page-b",
    ]  # newest first
    rest = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateGroup"}],
        MaxResults=2,
        NextToken=first["NextToken"],
    )
    assert [json.loads(e["CloudTrailEvent"])["requestParameters"]["groupName"] for e in rest["Events"]] == ["page-a"]
    assert "NextToken" not in rest
    paginated = trail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateGroup"}],
        PaginationConfig={"PageSize": 1},
    )
    assert sum(len(page["Events"]) for page in paginated) == 3

    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert trail.lookup_events(StartTime=future)["Events"] == []
    assert trail.lookup_events(EndTime=future, MaxResults=1)["Events"]
    assert trail.lookup_events(EventCategory="insight")["Events"] == []

    assert error(trail.lookup_events, MaxResults=51)[0] == "InvalidMaxResultsException"
    assert error(trail.lookup_events, StartTime=future, EndTime=future - dt.timedelta(hours=1))[0] == (
        "InvalidTimeRangeException"
    )
    two = [{"AttributeKey": "EventName", "AttributeValue": "x"}, {"AttributeKey": "Username", "AttributeValue": "y"}]
    assert error(trail.lookup_events, LookupAttributes=two)[0] == "InvalidLookupAttributesException"
    bad_key = [{"AttributeKey": "Colour", "AttributeValue": "x"}]
    assert error(trail.lookup_events, LookupAttributes=bad_key)[0] == "InvalidLookupAttributesException"
    assert error(trail.lookup_events, NextToken="not-a-token")[0] == "InvalidNextTokenException"
    assert error(trail.lookup_events, NextToken=first["NextToken"])[0] == "InvalidNextTokenException"
    assert error(trail.lookup_events, EventCategory="data")[0] == "InvalidEventCategoryException"


def raw_lookup(broker: LiveBroker, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """LookupEvents with a body botocore would not send (it writes times as epoch numbers)."""
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    admin = bootstrap_admin(broker.runtime)
    data = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
    }
    request = AWSRequest(method="POST", url=broker.url + "/", data=data, headers=headers)
    SigV4Auth(Credentials(admin.access_key_id, admin.secret_access_key), "cloudtrail", "us-east-1").add_auth(request)
    response = requests.post(broker.url + "/", data=data, headers=dict(request.headers.items()), timeout=10)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # a readable token naming a position past a 64-bit integer
        ({"NextToken": "FORGED"}, "InvalidNextTokenException"),
        (
            {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "a\u0000b"}]},
            "InvalidLookupAttributesException",
        ),
        (
            {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "\ud800"}]},
            "InvalidLookupAttributesException",
        ),
        ({"StartTime": "0001-01-01T00:00:00+14:00"}, "InvalidTimeRangeException"),
        ({"EndTime": "9999-12-31T23:59:59-14:00"}, "InvalidTimeRangeException"),
    ],
)
def test_hostile_lookups_are_cloudtrail_errors_not_500s(broker: LiveBroker, body: dict[str, Any], code: str) -> None:
    if body.get("NextToken") == "FORGED":
        from broker.services.audit.lookup import LookupQuery

        fingerprint = LookupQuery(None, None, None, 50, None).fingerprint()
        raw = json.dumps({"b": 2**63, "q": fingerprint}, separators=(",", ":")).encode()
        body = {"NextToken": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    status, answer = raw_lookup(broker, body)
    assert (status, answer.get("__type")) == (400, code), answer


def test_lookup_is_authorized_by_policy_and_audited(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "lookup-nobody")
    nobody = client(broker, "cloudtrail", key, secret)
    code, message = error(nobody.lookup_events)
    assert code == "AccessDeniedException"
    assert "cloudtrail:LookupEvents" in message
    assert error(client(broker, "cloudtrail", key, "wrong-secret").lookup_events)[0] == "InvalidSignatureException"
    assert error(client(broker, "cloudtrail", "AKIAIOSFODNN7EXAMPLE", secret).lookup_events)[0] == (
        "UnrecognizedClientException"
    )
    reader_key, reader_secret = user_with_key(iam, "lookup-reader", policy=document(allow("cloudtrail:LookupEvents")))
    reader = client(broker, "cloudtrail", reader_key, reader_secret)
    (refused,) = events(reader, "Username", "lookup-nobody", MaxResults=5)[:1]
    assert refused["EventName"] == "LookupEvents" and refused["EventSource"] == "cloudtrail.amazonaws.com"
    assert record(refused)["errorCode"] == "AccessDeniedException"
    own = events(reader, "Username", "lookup-reader")
    assert own and own[0]["EventName"] == "LookupEvents" and "errorCode" not in record(own[0])


def test_unknown_json_targets_answer_in_the_json_protocol(broker: LiveBroker) -> None:
    request = urllib.request.Request(
        broker.url + "/",
        data=b"{}",
        headers={
            "X-Amz-Target": "AWSOrganizationsV20161128.NoSuchOperation",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert json.loads(raised.value.read())["__type"] == "UnknownOperationException"


def test_aws_cli_lookup_events(broker: LiveBroker, iam: Any, tmp_path: Path) -> None:
    iam.create_group(GroupName="cli-visible")
    admin = bootstrap_admin(broker.runtime)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": admin.access_key_id,
        "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    done = subprocess.run(
        [
            AWS, "cloudtrail", "lookup-events", "--endpoint-url", broker.url, "--output", "json",
            "--lookup-attributes", "AttributeKey=EventName,AttributeValue=CreateGroup",
        ],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["Events"]
    names = [json.loads(e["CloudTrailEvent"])["requestParameters"]["groupName"] for e in found]
    assert "cli-visible" in names
    assert all(e["EventName"] == "CreateGroup" for e in found)


def test_digest_keys_are_published_and_verify_the_digests(broker: LiveBroker) -> None:
    digest = seal(broker.runtime)
    assert digest is not None
    with urllib.request.urlopen(broker.url + "/.well-known/audit-keys.json", timeout=10) as response:
        jwks = json.loads(response.read())
    (jwk,) = jwks["keys"]
    assert jwk["use"] == "audit-digest" and jwk["alg"] == "EdDSA" and jwk["kid"] == digest.key_id
    public = audit_public_key_from_jwk(jwk)
    assert okp_thumbprint(public) == jwk["kid"]
    public.verify(base64.b64decode(digest.signature), digest.document.encode())  # raises if wrong
    fields = json.loads(digest.document)
    assert fields["digestPublicKeyFingerprint"] == jwk["kid"]
    assert {"digestStartTime", "digestEndTime", "previousDigestSignature", "lastEventHash"} <= set(fields)


def test_an_account_sees_its_own_events_only(broker: LiveBroker) -> None:
    from broker.services.iam import access_keys, inline, users
    from broker.store.iam.accounts import ensure_account

    other = "210987654321"
    runtime = broker.runtime
    with runtime.db.transaction() as session:
        ensure_account(session, other, now=runtime.now())
        user = users.create_user(session, other, "other-admin", "/", runtime.now())
        inline.put_inline_policy(session, user, "trail", document(allow(["cloudtrail:LookupEvents", "iam:ListUsers"])))
        key, secret = access_keys.create_access_key(session, user, runtime.box, runtime.now())
    client(broker, "iam", key.access_key_id, secret).list_users()
    found = client(broker, "cloudtrail", key.access_key_id, secret).lookup_events()["Events"]
    assert {e["EventName"] for e in found} == {"ListUsers"}
    assert {json.loads(e["CloudTrailEvent"])["recipientAccountId"] for e in found} == {other}
    mine = admin_trail(broker).lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "other-admin"}]
    )["Events"]
    assert mine == []  # the management account does not see another account's trail either
