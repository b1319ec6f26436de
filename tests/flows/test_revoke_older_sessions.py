"""`broker sessions revoke --role ARN --older-than-now`: the AWS console's "Revoke active sessions"
(an inline AWSRevokeOlderSessions policy denying on aws:TokenIssueTime), with boto3 as the caller."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from broker.store import models
from tests.services.audit.support import run_cli
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

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ops/Revocable"


def role_session(broker: LiveBroker, keys: tuple[str, str], name: str) -> Any:
    credentials = client(broker, "sts", *keys).assume_role(RoleArn=ROLE_ARN, RoleSessionName=name)["Credentials"]
    return client(
        broker, "iam", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )


def test_older_sessions_are_denied_and_new_ones_work(broker: LiveBroker, iam: Any) -> None:
    keys = user_with_key(iam, "operator", policy=document(allow("sts:AssumeRole", ROLE_ARN)))
    trust = document(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/operator"}, "Action": "sts:AssumeRole"}
    )
    iam.create_role(RoleName="Revocable", Path="/ops/", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="Revocable", PolicyName="read", PolicyDocument=document(allow("iam:GetRole")))
    old = role_session(broker, keys, "before")
    assert old.get_role(RoleName="Revocable")["Role"]["Arn"] == ROLE_ARN

    result = run_cli(broker.runtime, "sessions", "revoke", "--role", ROLE_ARN, "--older-than-now")
    assert result.exit_code == 0, result.output
    assert "AWSRevokeOlderSessions" in result.output and "no live session matched" in result.output

    # The policy is the console's: an ordinary inline role policy any IAM client can read.
    written = iam.get_role_policy(RoleName="Revocable", PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    (statement,) = written["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == ["*"] and statement["Resource"] == ["*"]
    cutoff = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]

    code, message = error(old.get_role, RoleName="Revocable")
    assert code == "AccessDenied"
    assert "explicit deny" in message

    # Credentials issued after the cut-off (the next whole second) work.
    while time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) < cutoff:
        time.sleep(0.1)
    fresh = role_session(broker, keys, "after")
    assert fresh.get_role(RoleName="Revocable")["Role"]["Arn"] == ROLE_ARN

    # Audited as the IAM change it is.
    with broker.runtime.db.transaction() as session:
        records = [
            e.record
            for e in session.scalars(select(models.AuditEvent).where(models.AuditEvent.event_name == "PutRolePolicy"))
        ]
    (event,) = [r for r in records if r["requestParameters"]["policyName"] == "AWSRevokeOlderSessions"]
    assert event["eventSource"] == "iam.amazonaws.com" and event["requestParameters"]["roleName"] == "Revocable"
    assert json.loads(event["requestParameters"]["policyDocument"])["Statement"][0]["Effect"] == "Deny"
    assert event["userIdentity"]["principalId"] == "broker-cli"
