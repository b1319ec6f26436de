"""POST /v1/decisions against a live broker over HTTP: SigV4 and bearer callers, reasons, refusals, audit."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import botocore.config
import botocore.exceptions
import pytest
import requests
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from broker.crypto.keys import TokenKey, TokenKeyRing
from broker.crypto.tokens import encode_session_token
from broker.services.credentials import TemporaryCredentials, issue_role_credentials
from broker.services.iam import access_keys, inline, principals, roles, users
from broker.services.runtime import Runtime
from broker.services.setup import AdminCredentials, bootstrap_admin
from broker.store import models
from tests.support.aws import client as aws_client
from tests.support.brokers import LiveBroker

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "decision-api.yaml"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/okta"
OTHER_ACCOUNT = "210987654321"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithSAML"}],
    }
)
LIMITED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ReadReports", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"},
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::reports/secret/*"},
        {
            "Sid": "OfficeUploads",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::uploads/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.1.0.0/16"}},
        },
        {
            "Sid": "OwnTeamTables",
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
        },
    ],
}
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "TeamBucket",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::team-${aws:PrincipalTag/team}/*",
            "Condition": {"StringEquals": {"saml:sub": "alice"}},
        },
        {"Sid": "Queues", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"},
    ],
}


# --- Fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def admin(broker: LiveBroker) -> AdminCredentials:
    return bootstrap_admin(broker.runtime)


def url(broker: LiveBroker) -> str:
    return broker.url + "/v1/decisions"


def encode(body: object) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def signed(
    broker: LiveBroker,
    body: object,
    key: str,
    secret: str,
    token: str | None = None,
    *,
    service: str = "execute-api",
    region: str = "eu-west-1",
    content_type: str = "application/json",
) -> requests.Response:
    data = encode(body)
    request = AWSRequest(method="POST", url=url(broker), data=data, headers={"Content-Type": content_type})
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    return requests.post(url(broker), data=data, headers=dict(request.headers.items()), timeout=10)


def as_admin(broker: LiveBroker, admin: AdminCredentials, body: object, **kwargs: Any) -> requests.Response:
    return signed(broker, body, admin.access_key_id, admin.secret_access_key, **kwargs)


def bearer(broker: LiveBroker, body: object, token: str, **headers: str) -> requests.Response:
    return requests.post(
        url(broker),
        data=encode(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", **headers},
        timeout=10,
    )


def make_user(runtime: Runtime, name: str, policy: Mapping[str, Any], tags: dict[str, str]) -> tuple[str, str, str]:
    """(user ARN, access key id, secret) of a new user with one inline policy."""
    account = runtime.settings.default_account_id
    with runtime.db.transaction() as session:
        user = users.create_user(session, account, name, "/", runtime.now(), tags=list(tags.items()))
        inline.put_inline_policy(session, user, "limited", json.dumps(policy))
        key, secret = access_keys.create_access_key(session, user, runtime.box, runtime.now())
        return user.arn, key.access_key_id, secret


def role_session(
    runtime: Runtime,
    *,
    role_name: str = "Analysts",
    duration: int = 3600,
    session_policy: str | None = None,
) -> TemporaryCredentials:
    """Temporary credentials of a SAML session of a role allowed ROLE_POLICY."""
    account = runtime.settings.default_account_id
    with runtime.db.transaction() as session:
        role = roles.create_role(
            session,
            account,
            name=role_name,
            trust_policy=TRUST,
            path=None,
            description=None,
            max_session_duration=None,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )
        principals.put_inline(session, "Role", account, role_name, "inline", json.dumps(ROLE_POLICY))
        return issue_role_credentials(
            runtime,
            role,
            session_name="alice",
            duration_seconds=duration,
            auth_type="saml",
            provider_arn=PROVIDER,
            source_identity="alice@example.com",
            session_tags={"team": "blue"},
            session_policy=session_policy,
            federated={"saml:sub": "alice", "saml:iss": "https://okta.example/exk1"},
        )


def error_code(response: requests.Response) -> str:
    document = response.json()
    assert set(document) == {"error"}, document
    assert set(document["error"]) == {"code", "message", "requestId"}
    assert response.headers["Content-Type"] == "application/json"
    return str(document["error"]["code"])


def sids(result: Mapping[str, Any]) -> list[str | None]:
    return [matched["sid"] for matched in result["matchedStatements"]]


def decision_events(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.db.transaction() as session:
        events = session.scalars(
            select(models.AuditEvent).where(models.AuditEvent.event_source == "decisions.broker")
        ).all()
        for event in events:
            assert event.event_name == "Decide" and event.read_only is True
        return [event.record for event in events]


# --- SigV4 callers -------------------------------------------------------------------------


def test_administrator_is_allowed(broker: LiveBroker, admin: AdminCredentials) -> None:
    response = as_admin(
        broker, admin, {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf", "context": {}}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body == {
        "decision": "Allow",
        "allowed": True,
        "principal": {
            "arn": "arn:aws:iam::123456789012:user/admin",
            "account": "123456789012",
            "userId": body["principal"]["userId"],
            "type": "IAMUser",
        },
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::reports/q3.pdf",
        "matchedStatements": [
            {
                "policyId": "arn:aws:iam::123456789012:user/admin:AdministratorAccess",
                "sid": None,
                "index": 0,
                "effect": "Allow",
                "policyType": "identity",
            }
        ],
        "missingContextKeys": [],
        "reasons": ["allowed by the identity-based policies"],
    }
    assert body["principal"]["userId"].startswith("AIDA")


def test_limited_user_allow_implicit_and_explicit_deny(broker: LiveBroker) -> None:
    _arn, key, secret = make_user(broker.runtime, "carol", LIMITED_POLICY, {"team": "blue"})

    def ask(action: str, resource: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"action": action, "resource": resource}
        if context is not None:
            body["context"] = context
        response = signed(broker, body, key, secret)
        assert response.status_code == 200, response.text
        return dict(response.json())

    allowed = ask("s3:GetObject", "arn:aws:s3:::reports/q3.pdf")
    assert (allowed["decision"], allowed["allowed"], sids(allowed)) == ("Allow", True, ["ReadReports"])
    assert allowed["matchedStatements"][0]["policyId"] == "arn:aws:iam::123456789012:user/carol:limited"

    implicit = ask("s3:DeleteObject", "arn:aws:s3:::reports/q3.pdf")
    assert (implicit["decision"], implicit["allowed"], sids(implicit)) == ("ImplicitDeny", False, [])
    assert implicit["reasons"] == ["no identity-based policy allows s3:DeleteObject on arn:aws:s3:::reports/q3.pdf"]

    explicit = ask("s3:GetObject", "arn:aws:s3:::reports/secret/salaries.csv")
    assert (explicit["decision"], explicit["allowed"], sids(explicit)) == ("ExplicitDeny", False, ["NoSecrets"])
    assert explicit["matchedStatements"][0]["effect"] == "Deny"
    assert explicit["reasons"] == [
        "explicitly denied by identity policy 'arn:aws:iam::123456789012:user/carol:limited' statement 'NoSecrets'"
    ]

    # Context the service supplies: the client's address, the resource's tags.
    assert ask("s3:PutObject", "arn:aws:s3:::uploads/a", {"aws:SourceIp": "10.1.2.3"})["allowed"] is True
    assert ask("s3:PutObject", "arn:aws:s3:::uploads/a", {"aws:SourceIp": "192.0.2.7"})["allowed"] is False
    # Without context the broker's own view applies: the decision request came from loopback.
    assert ask("s3:PutObject", "arn:aws:s3:::uploads/a")["allowed"] is False
    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"
    assert ask("dynamodb:GetItem", table, {"aws:ResourceTag/team": "blue"})["allowed"] is True
    assert ask("dynamodb:GetItem", table, {"aws:ResourceTag/team": "red"})["allowed"] is False
    untagged = ask("dynamodb:GetItem", table)
    assert untagged["decision"] == "ImplicitDeny"
    assert untagged["missingContextKeys"] == ["aws:ResourceTag/team"]


def test_batch(broker: LiveBroker) -> None:
    arn, key, secret = make_user(broker.runtime, "dave", LIMITED_POLICY, {"team": "blue"})
    queries = [
        {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf"},
        {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/secret/x"},
        {"action": "s3:PutObject", "resource": "arn:aws:s3:::uploads/a", "context": {"aws:SourceIp": "10.1.0.9"}},
        {"action": "iam:CreateUser", "resource": "arn:aws:iam::123456789012:user/eve"},
        {"action": "sts:GetCallerIdentity", "resource": "*"},
        # The resource's ARN names another account, which grants nothing: cross-account is denied.
        {
            "action": "dynamodb:GetItem",
            "resource": f"arn:aws:dynamodb:eu-west-1:{OTHER_ACCOUNT}:table/orders",
            "context": {"aws:ResourceTag/team": "blue"},
        },
    ]
    response = signed(broker, {"requests": queries}, key, secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"principal", "results"}
    assert body["principal"]["arn"] == arn and body["principal"]["type"] == "IAMUser"
    results = body["results"]
    assert [(r["action"], r["resource"]) for r in results] == [(q["action"], q["resource"]) for q in queries]
    assert [r["decision"] for r in results] == [
        "Allow",
        "ExplicitDeny",
        "Allow",
        "ImplicitDeny",
        "ImplicitDeny",
        "ImplicitDeny",
    ]
    assert [sids(r) for r in results][:3] == [["ReadReports"], ["NoSecrets"], ["OfficeUploads"]]
    assert all("principal" not in r for r in results)
    assert results[5]["reasons"][0].startswith(
        f"cross-account request: no resource-based policy of account {OTHER_ACCOUNT}"
    )

    too_many = signed(broker, {"requests": [queries[0]] * 101}, key, secret)
    assert (too_many.status_code, error_code(too_many)) == (400, "ValidationError")
    one_bad = signed(broker, {"requests": [queries[0], {"action": "s3:*", "resource": "*"}]}, key, secret)
    assert (one_bad.status_code, error_code(one_bad)) == (400, "ValidationError")
    assert one_bad.json()["error"]["message"].startswith("requests[1].action:")


def test_temporary_credentials_sign_too(broker: LiveBroker) -> None:
    credentials = role_session(broker.runtime)
    response = signed(
        broker,
        {"action": "s3:GetObject", "resource": "arn:aws:s3:::team-blue/notes.txt"},
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "Allow"
    assert response.json()["principal"]["arn"] == "arn:aws:sts::123456789012:assumed-role/Analysts/alice"


def test_signature_refusals(broker: LiveBroker, admin: AdminCredentials) -> None:
    body = {"action": "s3:GetObject", "resource": "*"}
    wrong_secret = signed(broker, body, admin.access_key_id, "x" * 40)
    assert (wrong_secret.status_code, error_code(wrong_secret)) == (401, "SignatureDoesNotMatch")
    assert wrong_secret.headers["WWW-Authenticate"] == "AWS4-HMAC-SHA256"
    unknown_key = signed(broker, body, "AKIAAAAAAAAAAAAAAAAA", "x" * 40)
    assert (unknown_key.status_code, error_code(unknown_key)) == (401, "InvalidClientTokenId")
    # A signature scoped to another service is not a decision request.
    other_service = as_admin(broker, admin, body, service="iam")
    assert (other_service.status_code, error_code(other_service)) == (401, "SignatureDoesNotMatch")
    assert "execute-api" in other_service.json()["error"]["message"]
    missing = requests.post(url(broker), json=body, timeout=10)
    assert (missing.status_code, error_code(missing)) == (401, "MissingAuthenticationToken")
    assert "AWS4-HMAC-SHA256" in missing.headers["WWW-Authenticate"]
    assert "Bearer" in missing.headers["WWW-Authenticate"]
    # The body is signed: changing it after signing breaks the signature.
    data = encode(body)
    request = AWSRequest(method="POST", url=url(broker), data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(admin.access_key_id, admin.secret_access_key), "execute-api", "eu-west-1").add_auth(request)
    swapped = requests.post(
        url(broker),
        data=encode({"action": "s3:GetObject", "resource": "arn:aws:s3:::other/x"}),
        headers=dict(request.headers.items()),
        timeout=10,
    )
    assert (swapped.status_code, error_code(swapped)) == (401, "SignatureDoesNotMatch")


def test_groups_boundaries_and_session_token_credentials(broker: LiveBroker, admin: AdminCredentials) -> None:
    """The decision API sees what the broker's own authorization sees: groups and boundaries too."""

    def aws(service: str, key: str, secret: str, token: str | None = None) -> Any:
        return aws_client(broker, service, key, secret, token)

    def allow(action: str) -> str:
        return json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
        )

    iam = aws("iam", admin.access_key_id, admin.secret_access_key)
    boundary = iam.create_policy(PolicyName="S3ReadOnly", PolicyDocument=allow("s3:Get*"))["Policy"]["Arn"]
    iam.create_user(UserName="gina")
    iam.put_user_policy(UserName="gina", PolicyName="all-s3", PolicyDocument=allow("s3:*"))
    iam.create_group(GroupName="queues")
    iam.add_user_to_group(GroupName="queues", UserName="gina")
    iam.put_group_policy(GroupName="queues", PolicyName="send", PolicyDocument=allow("sqs:SendMessage"))
    key = iam.create_access_key(UserName="gina")["AccessKey"]
    queries = {
        "requests": [
            {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/a"},
            {"action": "s3:PutObject", "resource": "arn:aws:s3:::reports/a"},
            {"action": "sqs:SendMessage", "resource": "arn:aws:sqs:us-east-1:123456789012:jobs"},
        ]
    }
    before = signed(broker, queries, key["AccessKeyId"], key["SecretAccessKey"]).json()["results"]
    assert [r["decision"] for r in before] == ["Allow", "Allow", "Allow"]
    assert before[2]["matchedStatements"][0]["policyId"] == "arn:aws:iam::123456789012:group/queues:send"

    iam.put_user_permissions_boundary(UserName="gina", PermissionsBoundary=boundary)
    after = signed(broker, queries, key["AccessKeyId"], key["SecretAccessKey"]).json()["results"]
    assert [r["decision"] for r in after] == ["Allow", "ImplicitDeny", "ImplicitDeny"]
    assert {(m["policyId"], m["policyType"]) for m in after[0]["matchedStatements"]} == {
        ("arn:aws:iam::123456789012:user/gina:all-s3", "identity"),
        (boundary, "boundary"),
    }
    assert after[1]["reasons"] == ["the permissions boundary does not allow s3:PutObject on arn:aws:s3:::reports/a"]

    # GetSessionToken credentials are temporary, but the principal is the IAM user itself.
    sts = aws("sts", key["AccessKeyId"], key["SecretAccessKey"])
    session_token = sts.get_session_token()["Credentials"]["SessionToken"]
    response = bearer(broker, queries, session_token)
    assert response.status_code == 200, response.text
    assert response.json()["principal"]["type"] == "IAMUser"
    assert response.json()["principal"]["arn"] == "arn:aws:iam::123456789012:user/gina"
    assert [r["decision"] for r in response.json()["results"]] == ["Allow", "ImplicitDeny", "ImplicitDeny"]


def test_the_decision_agrees_with_the_endpoint_on_credential_limits_and_trust_policies(
    broker: LiveBroker, admin: AdminCredentials
) -> None:
    """What the broker's own endpoints refuse whatever the policies say, and AssumeRole's trust
    policy, decide here too: a review found both answered Allow."""

    def aws(service: str, key: str, secret: str, token: str | None = None) -> Any:
        return aws_client(broker, service, key, secret, token)

    everything = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    iam = aws("iam", admin.access_key_id, admin.secret_access_key)
    iam.create_user(UserName="hal")
    iam.put_user_policy(UserName="hal", PolicyName="all", PolicyDocument=everything)
    key = iam.create_access_key(UserName="hal")["AccessKey"]
    sts = aws("sts", key["AccessKeyId"], key["SecretAccessKey"])
    list_users = {"action": "iam:ListUsers", "resource": "*"}

    federated = sts.get_federation_token(Name="hal-fed", Policy=everything)["Credentials"]
    fed_args = (federated["AccessKeyId"], federated["SecretAccessKey"], federated["SessionToken"])
    with pytest.raises(botocore.exceptions.ClientError):
        aws("iam", *fed_args).list_users()
    batch = {"requests": [list_users, {"action": "sts:GetCallerIdentity", "resource": "*"}]}
    results = signed(broker, batch, *fed_args).json()["results"]
    assert [r["decision"] for r in results] == ["ExplicitDeny", "Allow"]
    assert results[0]["reasons"] == ["federated user credentials cannot call the IAM or STS API: iam:ListUsers on *"]

    session = sts.get_session_token()["Credentials"]  # no MFA: no IAM API
    session_args = (session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    with pytest.raises(botocore.exceptions.ClientError):
        aws("iam", *session_args).list_users()
    result = signed(broker, list_users, *session_args).json()
    assert result["decision"] == "ExplicitDeny" and "without MFA" in result["reasons"][0]

    # AssumeRole: the trust policy must allow the caller, whatever hal's own policy says.
    trusting = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::123456789012:user/hal"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    untrusting = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::123456789012:user/admin"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="trusts-hal", AssumeRolePolicyDocument=json.dumps(trusting))
    iam.create_role(RoleName="trusts-admin", AssumeRolePolicyDocument=json.dumps(untrusting))
    role = "arn:aws:iam::123456789012:role/"
    queries = {
        "requests": [
            {"action": "sts:AssumeRole", "resource": role + "trusts-hal"},
            {"action": "sts:AssumeRole", "resource": role + "trusts-admin"},
            {"action": "sts:AssumeRole", "resource": role + "no-such-role"},
            {"action": "sts:TagSession", "resource": role + "trusts-hal"},
        ]
    }
    results = signed(broker, queries, key["AccessKeyId"], key["SecretAccessKey"]).json()["results"]
    assert [r["decision"] for r in results] == ["Allow", "ImplicitDeny", "ImplicitDeny", "ImplicitDeny"]
    assert results[1]["reasons"] == [f"the role's trust policy does not allow sts:AssumeRole on {role}trusts-admin"]
    assert {m["policyType"] for m in results[0]["matchedStatements"]} == {"identity", "resource"}
    assert sts.assume_role(RoleArn=role + "trusts-hal", RoleSessionName="hal-session")["Credentials"]
    with pytest.raises(botocore.exceptions.ClientError):
        sts.assume_role(RoleArn=role + "trusts-admin", RoleSessionName="hal-session")


# --- Bearer callers -----------------------------------------------------------------------------


def test_bearer_session_token(broker: LiveBroker) -> None:
    credentials = role_session(broker.runtime)
    response = bearer(
        broker,
        {
            "requests": [
                {"action": "s3:GetObject", "resource": "arn:aws:s3:::team-blue/notes.txt"},
                {"action": "s3:GetObject", "resource": "arn:aws:s3:::team-red/notes.txt"},
                {"action": "sqs:SendMessage", "resource": "arn:aws:sqs:eu-west-1:123456789012:jobs"},
            ]
        },
        credentials.session_token,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    role_id = credentials.claims.role_id
    assert body["principal"] == {
        "arn": "arn:aws:sts::123456789012:assumed-role/Analysts/alice",
        "account": "123456789012",
        "userId": f"{role_id}:alice",
        "type": "AssumedRole",
    }
    # The session's tags and SAML attributes (from the token) feed variables and conditions.
    assert [r["decision"] for r in body["results"]] == ["Allow", "ImplicitDeny", "Allow"]
    assert body["results"][0]["matchedStatements"] == [
        {
            "policyId": "arn:aws:iam::123456789012:role/Analysts:inline",
            "sid": "TeamBucket",
            "index": 0,
            "effect": "Allow",
            "policyType": "identity",
        }
    ]


def test_session_policy_limits_a_bearer_session(broker: LiveBroker) -> None:
    only_sqs = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
    )
    credentials = role_session(broker.runtime, session_policy=only_sqs)
    response = bearer(
        broker, {"action": "s3:GetObject", "resource": "arn:aws:s3:::team-blue/notes.txt"}, credentials.session_token
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "ImplicitDeny"
    assert response.json()["reasons"] == ["no session policy allows s3:GetObject on arn:aws:s3:::team-blue/notes.txt"]


def test_expired_and_tampered_tokens_are_401(broker: LiveBroker) -> None:
    runtime = broker.runtime
    body = {"action": "sqs:SendMessage", "resource": "*"}
    clock = runtime.clock
    runtime.clock = lambda: clock() - dt.timedelta(hours=2)
    try:
        expired = role_session(runtime, role_name="Expired", duration=900)
    finally:
        runtime.clock = clock
    response = bearer(broker, body, expired.session_token)
    assert (response.status_code, error_code(response)) == (401, "ExpiredToken")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="broker", error="invalid_token"'

    valid = role_session(runtime).session_token
    header, payload, signature = valid.split(".")
    claims = json.loads(_b64decode(payload))
    claims["sub"] = "arn:aws:sts::123456789012:assumed-role/Admins/mallory"
    forged_payload = _b64encode(json.dumps(claims).encode())
    flipped_signature = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    other_key = TokenKey(kid=runtime.keys.token_keys.current.kid, private_key=ec.generate_private_key(ec.SECP256R1()))
    self_signed = encode_session_token(
        expired.claims, TokenKeyRing(current=other_key, next=None, previous=None), runtime.settings.base_url
    )
    for token in (
        f"{header}.{forged_payload}.{signature}",
        f"{header}.{payload}.{flipped_signature}",
        self_signed,  # right kid, wrong key
        "not-a-jwt",
        "a.b.c",
    ):
        refused = bearer(broker, body, token)
        assert (refused.status_code, error_code(refused)) == (401, "InvalidClientTokenId"), token[:40]

    # Longer than any session token (a real server may refuse such a header line first).
    huge = broker.app.test_client().post(
        "/v1/decisions", json=body, headers={"Authorization": "Bearer " + "x" * 70_000}
    )
    assert (huge.status_code, huge.get_json()["error"]["code"]) == (401, "InvalidClientTokenId")

    empty = requests.post(url(broker), json=body, headers={"Authorization": "Bearer "}, timeout=10)
    assert (empty.status_code, error_code(empty)) == (401, "MissingAuthenticationToken")
    both = bearer(broker, body, valid, **{"X-Amz-Security-Token": valid})
    assert (both.status_code, error_code(both)) == (400, "InvalidRequest")


# --- Request validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "aws:PrincipalArn",
        "AWS:principalarn",
        "aws:PrincipalAccount",
        "aws:userid",
        "aws:username",
        "aws:PrincipalTag/team",
        "aws:MultiFactorAuthPresent",
        "aws:TokenIssueTime",
        "aws:SourceIdentity",
        "aws:FederatedProvider",
        "aws:PrincipalOrgID",
        "aws:CurrentTime",
        "saml:sub",
        "SAML:aud",
    ],
)
def test_principal_keys_cannot_be_overridden(broker: LiveBroker, admin: AdminCredentials, key: str) -> None:
    body = {"action": "s3:GetObject", "resource": "*", "context": {key: "arn:aws:iam::123456789012:user/admin"}}
    response = as_admin(broker, admin, body)
    assert (response.status_code, error_code(response)) == (400, "ProtectedContextKey")
    assert json.dumps(key) in response.json()["error"]["message"]


def test_malformed_requests_get_precise_400s(broker: LiveBroker, admin: AdminCredentials) -> None:
    get = {"action": "s3:GetObject", "resource": "*"}
    cases: list[tuple[object, str]] = [
        (b"", "MalformedRequest"),
        (b"not json", "MalformedRequest"),
        (b"[]", "MalformedRequest"),
        (b"\xff\xfe", "MalformedRequest"),
        (b'{"action": "s3:GetObject", "action": "s3:PutObject", "resource": "*"}', "MalformedRequest"),
        (b'{"action": "s3:GetObject", "resource": "*", "context": {"a:b": NaN}}', "MalformedRequest"),
        (b"[" * 50_000 + b"]" * 50_000, "MalformedRequest"),
        ({"action": "s3:GetObject"}, "ValidationError"),
        ({"resource": "*"}, "ValidationError"),
        ({"action": "s3GetObject", "resource": "*"}, "ValidationError"),
        ({"action": "s3:*", "resource": "*"}, "ValidationError"),
        ({"action": "s3:Get Object", "resource": "*"}, "ValidationError"),
        ({"action": 7, "resource": "*"}, "ValidationError"),
        ({"action": "s3:GetObject", "resource": "reports/q3.pdf"}, "ValidationError"),
        ({"action": "s3:GetObject", "resource": "arn:aws:s3:::"}, "ValidationError"),
        ({"action": "s3:GetObject", "resource": "arn:aws:iam::12345:user/x"}, "ValidationError"),
        ({"action": "s3:GetObject", "resource": ["*"]}, "ValidationError"),
        ({**get, "Action": "s3:PutObject"}, "ValidationError"),
        ({**get, "context": []}, "ValidationError"),
        ({**get, "context": {"SourceIp": "10.0.0.1"}}, "ValidationError"),
        ({**get, "context": {"aws:SourceIp": None}}, "ValidationError"),
        ({**get, "context": {"aws:SourceIp": {"ip": "10.0.0.1"}}}, "ValidationError"),
        ({**get, "context": {"aws:SourceIp": ["10.0.0.1", ["nested"]]}}, "ValidationError"),
        ({**get, "context": {"aws:SourceIp": "1", "AWS:SOURCEIP": "2"}}, "ValidationError"),
        ({**get, "context": {"aws:TagKeys": ["k"] * 101}}, "ValidationError"),
        ({**get, "context": {f"svc:key{n}": "v" for n in range(101)}}, "ValidationError"),
        ({**get, "context": {"aws:RequestTag/x": "v" * 2049}}, "ValidationError"),
        ({"requests": []}, "ValidationError"),
        ({"requests": {}}, "ValidationError"),
        ({"requests": [get], **get}, "ValidationError"),
        ({"requests": ["s3:GetObject"]}, "ValidationError"),
    ]
    for body, code in cases:
        response = as_admin(broker, admin, body)
        assert (response.status_code, error_code(response)) == (400, code), body
    wrong_type = as_admin(broker, admin, get, content_type="text/plain")
    assert (wrong_type.status_code, error_code(wrong_type)) == (415, "UnsupportedMediaType")
    # Valid context forms: strings, numbers, booleans, lists of them (an empty list too).
    context = {
        "aws:TagKeys": [],
        "s3:max-keys": 10,
        "aws:SecureTransport": True,
        "svc:ratio": 0.5,
        "aws:SourceIp": "10.0.0.1",
    }
    fine = as_admin(broker, admin, {**get, "context": context})
    assert fine.status_code == 200, fine.text


def test_wrong_method_and_oversized_body_answer_json(broker: LiveBroker) -> None:
    wrong = requests.get(url(broker), timeout=10)
    assert (wrong.status_code, error_code(wrong)) == (405, "MethodNotAllowed")
    assert wrong.headers["Allow"] == "POST"
    limit = broker.app.config["MAX_CONTENT_LENGTH"]
    big = broker.app.test_client().post(
        "/v1/decisions", data=b" " * (limit + 1), headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413
    assert big.get_json()["error"]["code"] == "RequestTooLarge"


# --- Audit ----------------------------------------------------------------------------------------


def test_every_call_is_audited_without_secrets(broker: LiveBroker, admin: AdminCredentials) -> None:
    credentials = role_session(broker.runtime)
    assert as_admin(broker, admin, {"action": "s3:GetObject", "resource": "arn:aws:s3:::a/b"}).status_code == 200
    batch = {
        "requests": [
            {"action": "s3:GetObject", "resource": "arn:aws:s3:::team-blue/x", "context": {"aws:SourceIp": "10.9.8.7"}},
            {"action": "s3:PutObject", "resource": "arn:aws:s3:::team-blue/x"},
        ]
    }
    assert bearer(broker, batch, credentials.session_token).status_code == 200
    assert bearer(broker, {"action": "s3:GetObject", "resource": "*"}, "garbage").status_code == 401
    protected = {"action": "s3:GetObject", "resource": "*", "context": {"aws:PrincipalArn": "x"}}
    assert bearer(broker, protected, credentials.session_token).status_code == 400

    # audit_decision_events = "denies" (the default): the administrator's Allow is not recorded.
    records = decision_events(broker.runtime)
    assert len(records) == 3
    by_session, unauthenticated, invalid = records
    for record in records:  # CloudTrail data events, which LookupEvents does not list
        assert record["managementEvent"] is False and record["eventCategory"] == "Data"
        assert record["readOnly"] is True and record["eventSource"] == "decisions.broker"

    assert by_session["userIdentity"]["type"] == "AssumedRole"
    assert by_session["userIdentity"]["arn"] == "arn:aws:sts::123456789012:assumed-role/Analysts/alice"
    assert by_session["requestParameters"]["requests"][0]["contextKeys"] == ["aws:SourceIp"]
    assert by_session["responseElements"] == {"decisions": ["Allow", "ImplicitDeny"]}
    assert by_session["additionalEventData"] == {"authenticationMethod": "Bearer"}

    assert unauthenticated["userIdentity"] == {"type": "Unknown"}
    assert unauthenticated["errorCode"] == "InvalidClientTokenId"
    assert invalid["errorCode"] == "ProtectedContextKey"
    assert invalid["userIdentity"]["type"] == "AssumedRole"

    text = json.dumps(records)
    for secret in (credentials.session_token, credentials.secret_access_key, admin.secret_access_key, "10.9.8.7"):
        assert secret not in text


@pytest.mark.parametrize("setting", ["all", "none"])
def test_the_setting_chooses_which_decisions_are_recorded(
    broker: LiveBroker, admin: AdminCredentials, setting: str
) -> None:
    broker.runtime.settings = dataclasses.replace(broker.runtime.settings, audit_decision_events=setting)
    assert as_admin(broker, admin, {"action": "s3:GetObject", "resource": "arn:aws:s3:::a/b"}).status_code == 200
    denied = {"action": "broker:Nothing", "resource": "arn:aws:s3:::a/b"}
    credentials = role_session(broker.runtime)
    assert bearer(broker, denied, credentials.session_token).json()["decision"] == "ImplicitDeny"
    assert bearer(broker, denied, "garbage").status_code == 401  # refusals: recorded under any setting
    records = decision_events(broker.runtime)
    if setting == "none":
        assert [record.get("errorCode") for record in records] == ["InvalidClientTokenId"]
        return
    by_user, by_session, refused = records
    assert by_user["userIdentity"]["type"] == "IAMUser"
    assert by_user["userIdentity"]["accessKeyId"] == admin.access_key_id
    assert by_user["requestParameters"] == {"action": "s3:GetObject", "resource": "arn:aws:s3:::a/b", "contextKeys": []}
    assert by_user["responseElements"] == {"decision": "Allow"}
    assert by_user["resources"] == [{"ARN": "arn:aws:s3:::a/b"}]
    assert by_user["additionalEventData"] == {"authenticationMethod": "SigV4"}
    assert by_session["responseElements"] == {"decision": "ImplicitDeny"}
    assert refused["errorCode"] == "InvalidClientTokenId"


# --- The OpenAPI description --------------------------------------------------------------------


def _check(schema: Mapping[str, Any], value: Any, spec: Mapping[str, Any], where: str = "$") -> None:
    """A small JSON Schema check (the subset the description uses): a mismatch raises AssertionError."""
    if "$ref" in schema:
        target: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        _check(target, value, spec, where)
        return
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            matches = 0
            for option in schema[keyword]:
                try:
                    _check(option, value, spec, where)
                except AssertionError:
                    continue
                matches += 1
            assert matches == 1 if keyword == "oneOf" else matches >= 1, f"{where}: {keyword} matched {matches}"
    kinds = schema.get("type")
    if kinds is not None:
        names = {
            "object": dict,
            "array": list,
            "string": str,
            "boolean": bool,
            "null": type(None),
            "integer": int,
            "number": (int, float),
        }
        allowed = [kinds] if isinstance(kinds, str) else kinds
        ok = any(
            isinstance(value, names[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
            for kind in allowed
        )
        assert ok, f"{where}: {value!r} is not {allowed}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} != {schema['const']!r}"
    if isinstance(value, str):
        assert len(value) <= schema.get("maxLength", len(value)), f"{where}: too long"
        assert re.search(schema.get("pattern", ""), value), f"{where}: {value!r} does not match {schema['pattern']}"
    if isinstance(value, int | float) and "minimum" in schema:
        assert value >= schema["minimum"], f"{where}: below {schema['minimum']}"
    if isinstance(value, dict):
        assert len(value) <= schema.get("maxProperties", len(value)), f"{where}: too many keys"
        for name in value:
            _check(schema.get("propertyNames", {}), name, spec, f"{where} key {name!r}")
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            assert name in value, f"{where}: missing {name}"
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                _check(properties[name], item, spec, f"{where}.{name}")
            elif extra is False:
                raise AssertionError(f"{where}: unexpected key {name}")
            elif isinstance(extra, dict):
                _check(extra, item, spec, f"{where}.{name}")
    if isinstance(value, list):
        if "items" in schema:
            for index, item in enumerate(value):
                _check(schema["items"], item, spec, f"{where}[{index}]")
        assert len(value) >= schema.get("minItems", 0), f"{where}: too few items"
        assert len(value) <= schema.get("maxItems", len(value)), f"{where}: too many items"


def _schema(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_openapi_description_parses_and_matches_real_responses(broker: LiveBroker, admin: AdminCredentials) -> None:
    spec = yaml.safe_load(OPENAPI.read_text())
    assert spec["openapi"].startswith("3.1")
    decide = spec["paths"]["/v1/decisions"]["post"]
    assert set(decide["responses"]) >= {"200", "400", "401", "413", "415"}
    assert spec["paths"]["/.well-known/jwks.json"]["get"]["security"] == []
    assert set(spec["components"]["securitySchemes"]) == {"sigv4", "sessionToken"}

    # Every example in the description is valid against its own schema.
    request_schema = decide["requestBody"]["content"]["application/json"]["schema"]
    for example in decide["requestBody"]["content"]["application/json"]["examples"].values():
        _check(request_schema, example["value"], spec)
    for status, response in decide["responses"].items():
        content = response["content"]["application/json"]
        for example in content.get("examples", {}).values():
            _check(content["schema"], example["value"], spec, f"responses[{status}]")

    # And the broker's real answers match the schemas (keys, types, enums).
    _arn, key, secret = make_user(broker.runtime, "frank", LIMITED_POLICY, {"team": "blue"})
    single = signed(broker, {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/secret/x"}, key, secret)
    _check(_schema(spec, "DecisionResponse"), single.json(), spec)
    tagged = {"action": "dynamodb:GetItem", "resource": "*"}
    batch = signed(broker, {"requests": [tagged, {"action": "s3:GetObject", "resource": "*"}]}, key, secret)
    _check(_schema(spec, "BatchDecisionResponse"), batch.json(), spec)
    _check(decide["responses"]["200"]["content"]["application/json"]["schema"], batch.json(), spec)
    with pytest.raises(AssertionError):  # the check does catch a drift
        _check(_schema(spec, "DecisionResponse"), {**single.json(), "surprise": 1}, spec)
    refused = as_admin(broker, admin, {"action": "s3:*", "resource": "*"})
    _check(_schema(spec, "Error"), refused.json(), spec)
    credentials = role_session(broker.runtime)
    session = bearer(broker, {"action": "sqs:SendMessage", "resource": "*"}, credentials.session_token)
    _check(_schema(spec, "DecisionResponse"), session.json(), spec)
    jwks = requests.get(broker.url + "/.well-known/jwks.json", timeout=10)
    _check(_schema(spec, "Jwks"), jwks.json(), spec)


# --- Helpers for forging tokens --------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
