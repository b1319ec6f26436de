"""STS for IAM principals against a live broker: AssumeRole (trust and identity policies, ExternalId,
session tags, transitive tags and source identity through role chains, session policies),
GetSessionToken, GetAccessKeyInfo and GetCallerIdentity."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from broker.store import models
from tests.support.aws import (  # module_broker, module_iam: the "broker" and "iam" fixtures
    ACCOUNT,
    admin_client,
    allow,
    client,
    document,
    error,
    module_broker,  # noqa: F401
    module_iam,  # noqa: F401
    user_with_key,
)
from tests.support.brokers import LiveBroker

USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/"


def trust(principal: str | list[str], *actions: str, **extra: Any) -> str:
    return document(
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions) or "sts:AssumeRole", **extra}
    )


def session_clients(broker: LiveBroker, credentials: dict[str, Any]) -> tuple[Any, Any]:
    args = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
    return client(broker, "iam", *args), client(broker, "sts", *args)


def remaining(credentials: dict[str, Any]) -> float:
    return float((credentials["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds())


def test_trust_policy_and_identity_policy_decide_together(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "assumer")
    sts = client(broker, "sts", key, secret)
    iam.create_role(RoleName="via-account", AssumeRolePolicyDocument=trust(ACCOUNT), MaxSessionDuration=7200)
    iam.create_role(RoleName="via-user", AssumeRolePolicyDocument=trust(USER_ARN + "assumer"))

    # The trust policy names only the account: the caller's identity policies must allow too.
    code_, message = error(sts.assume_role, RoleArn=ROLE_ARN + "via-account", RoleSessionName="one")
    assert code_ == "AccessDenied"
    assert message.startswith(
        f"User: {USER_ARN}assumer is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}via-account"
    )
    iam.put_user_policy(
        UserName="assumer", PolicyName="assume", PolicyDocument=document(allow("sts:AssumeRole", ROLE_ARN + "via-*"))
    )
    result = sts.assume_role(RoleArn=ROLE_ARN + "via-account", RoleSessionName="one", DurationSeconds=7200)
    assert result["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/via-account/one"
    assert result["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert result["AssumedRoleUser"]["AssumedRoleId"].endswith(":one")
    credentials = result["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and 7100 < remaining(credentials) <= 7200
    _, session_sts = session_clients(broker, credentials)
    identity = session_sts.get_caller_identity()
    assert (
        identity["Arn"] == result["AssumedRoleUser"]["Arn"]
        and identity["UserId"] == result["AssumedRoleUser"]["AssumedRoleId"]
    )
    assert (
        3500
        < remaining(sts.assume_role(RoleArn=ROLE_ARN + "via-account", RoleSessionName="dflt")["Credentials"])
        <= 3600
    )
    assert error(sts.assume_role, RoleArn=ROLE_ARN + "via-account", RoleSessionName="long", DurationSeconds=7201) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )

    # A trust policy naming the user itself grants on its own in the same account.
    iam.delete_user_policy(UserName="assumer", PolicyName="assume")
    assert sts.assume_role(RoleArn=ROLE_ARN + "via-user", RoleSessionName="two")["Credentials"]
    denied = error(sts.assume_role, RoleArn=ROLE_ARN + "via-account", RoleSessionName="three")
    assert denied[0] == "AccessDenied"
    # A role that does not exist is refused like one that does not trust the caller.
    assert error(sts.assume_role, RoleArn=ROLE_ARN + "no-such-role", RoleSessionName="four")[0] == "AccessDenied"
    assert (
        error(sts.assume_role, RoleArn="arn:aws:iam::123456789012:user/not-a-role", RoleSessionName="five")[0]
        == "ValidationError"
    )
    assert error(sts.assume_role, RoleArn=ROLE_ARN + "via-user", RoleSessionName="bad name")[0] == "ValidationError"
    assert (
        error(sts.assume_role, RoleArn=ROLE_ARN + "via-user", RoleSessionName="six", DurationSeconds=600)[0]
        == "ValidationError"
    )


def test_external_id(broker: LiveBroker, iam: Any) -> None:
    iam.create_role(
        RoleName="partner",
        AssumeRolePolicyDocument=trust(ACCOUNT, Condition={"StringEquals": {"sts:ExternalId": "Unique-42"}}),
    )
    sts = admin_client(broker, "sts")
    arn = ROLE_ARN + "partner"
    assert error(sts.assume_role, RoleArn=arn, RoleSessionName="p")[0] == "ValidationError"  # session name too short
    assert error(sts.assume_role, RoleArn=arn, RoleSessionName="partner")[0] == "AccessDenied"
    assert error(sts.assume_role, RoleArn=arn, RoleSessionName="partner", ExternalId="Unique-41")[0] == "AccessDenied"
    assert sts.assume_role(RoleArn=arn, RoleSessionName="partner", ExternalId="Unique-42")["Credentials"]
    assert error(sts.assume_role, RoleArn=arn, RoleSessionName="partner", ExternalId="x")[0] == "ValidationError"


def test_session_tags_transitive_tags_and_source_identity_through_a_chain(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "chainer")
    first_arn, second_arn = ROLE_ARN + "first-hop", ROLE_ARN + "second-hop"
    iam.create_role(
        RoleName="first-hop",
        AssumeRolePolicyDocument=trust(
            USER_ARN + "chainer", "sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"
        ),
        MaxSessionDuration=14400,
    )
    iam.create_role(
        RoleName="second-hop",
        AssumeRolePolicyDocument=trust(first_arn, "sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"),
        MaxSessionDuration=14400,
        Tags=[{"Key": "tier", "Value": "gold"}],
    )
    iam.put_role_policy(
        RoleName="second-hop",
        PolicyName="by-tags",
        PolicyDocument=document(
            allow("iam:ListUsers", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}),
            allow("iam:ListRoles", Condition={"StringEquals": {"aws:PrincipalTag/project": "apollo"}}),
            allow("iam:ListGroups", Condition={"StringEquals": {"aws:SourceIdentity": "alice-src"}}),
            allow("iam:ListPolicies", Condition={"StringEquals": {"aws:PrincipalTag/tier": "gold"}}),
        ),
    )
    sts = client(broker, "sts", key, secret)
    tags = [{"Key": "team", "Value": "blue"}, {"Key": "project", "Value": "apollo"}]
    first = sts.assume_role(
        RoleArn=first_arn,
        RoleSessionName="hop1",
        Tags=tags,
        TransitiveTagKeys=["team"],
        SourceIdentity="alice-src",
        DurationSeconds=14400,
    )
    assert first["SourceIdentity"] == "alice-src" and 0 < first["PackedPolicySize"] <= 100
    _, first_sts = session_clients(broker, first["Credentials"])

    # Role chaining is capped at one hour.
    assert error(first_sts.assume_role, RoleArn=second_arn, RoleSessionName="hop2", DurationSeconds=3601) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    )
    # Inherited transitive tags cannot be overridden, nor the source identity changed.
    assert error(
        first_sts.assume_role, RoleArn=second_arn, RoleSessionName="hop2", Tags=[{"Key": "TEAM", "Value": "red"}]
    )[0] == ("InvalidParameterValue")
    assert error(first_sts.assume_role, RoleArn=second_arn, RoleSessionName="hop2", SourceIdentity="mallory")[0] == (
        "InvalidParameterValue"
    )
    second = first_sts.assume_role(RoleArn=second_arn, RoleSessionName="hop2")
    assert second["SourceIdentity"] == "alice-src" and 3500 < remaining(second["Credentials"]) <= 3600
    second_iam, second_sts = session_clients(broker, second["Credentials"])
    assert second_sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/second-hop/hop2"
    assert second_iam.list_users()["Users"]  # team=blue came through the chain (transitive)
    assert error(second_iam.list_roles)[0] == "AccessDenied"  # project was not transitive
    assert second_iam.list_groups()["Groups"] is not None  # the source identity persists
    assert second_iam.list_policies(MaxItems=1)["Policies"]  # the role's own tag is a principal tag

    # Tags and source identity need sts:TagSession and sts:SetSourceIdentity in the trust policy.
    iam.update_assume_role_policy(RoleName="first-hop", PolicyDocument=trust(USER_ARN + "chainer"))
    code_, message = error(sts.assume_role, RoleArn=first_arn, RoleSessionName="hop1", Tags=tags)
    assert code_ == "AccessDenied" and "sts:TagSession" in message
    code_, message = error(sts.assume_role, RoleArn=first_arn, RoleSessionName="hop1", SourceIdentity="alice-src")
    assert code_ == "AccessDenied" and "sts:SetSourceIdentity" in message
    assert (
        error(sts.assume_role, RoleArn=first_arn, RoleSessionName="hop1", Tags=tags, TransitiveTagKeys=["nope"])[0]
        == "InvalidParameterValue"
    )


def test_session_policies_limit_the_session(broker: LiveBroker, iam: Any) -> None:
    iam.create_role(RoleName="broad", AssumeRolePolicyDocument=trust(ACCOUNT))
    iam.put_role_policy(RoleName="broad", PolicyName="iam", PolicyDocument=document(allow("iam:*")))
    sts = admin_client(broker, "sts")
    arn = ROLE_ARN + "broad"

    inline = sts.assume_role(RoleArn=arn, RoleSessionName="narrow", Policy=document(allow("iam:ListUsers")))
    assert 0 < inline["PackedPolicySize"] <= 100
    narrow, _ = session_clients(broker, inline["Credentials"])
    assert narrow.list_users()["Users"]
    code_, message = error(narrow.list_roles)
    assert code_ == "AccessDenied" and "because no session policy allows the iam:ListRoles action" in message

    managed = sts.assume_role(
        RoleArn=arn, RoleSessionName="readonly", PolicyArns=[{"arn": "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}]
    )
    readonly, _ = session_clients(broker, managed["Credentials"])
    assert readonly.list_roles()["Roles"] and readonly.get_role(RoleName="broad")["Role"]
    assert error(readonly.create_group, GroupName="nope")[0] == "AccessDenied"

    assert error(sts.assume_role, RoleArn=arn, RoleSessionName="bad", Policy='{"Statement": "nope"}')[0] == (
        "MalformedPolicyDocument"
    )
    assert error(sts.assume_role, RoleArn=arn, RoleSessionName="bad", PolicyArns=[{"arn": "arn:aws:s3:::bucket-x"}])[
        0
    ] == ("ValidationError")

    # Deleting the role takes its sessions' permissions at once; a new role of the same name is another role.
    full = sts.assume_role(RoleArn=arn, RoleSessionName="full")["Credentials"]
    full_iam, _ = session_clients(broker, full)
    assert full_iam.list_roles()["Roles"]
    iam.delete_role_policy(RoleName="broad", PolicyName="iam")
    iam.delete_role(RoleName="broad")
    iam.create_role(RoleName="broad", AssumeRolePolicyDocument=trust(ACCOUNT))
    iam.put_role_policy(RoleName="broad", PolicyName="iam", PolicyDocument=document(allow("iam:*")))
    assert error(full_iam.list_roles)[0] == "AccessDenied"


def _policy_arns_numbered(sts: Any, *indexes: str) -> Any:
    """``sts`` sending its PolicyArns entries under ``indexes`` instead of botocore's 1, 2, ..."""

    def renumber(request: Any, **_: Any) -> None:
        renamed = {}
        for name, value in request.data.items():
            if name.startswith("PolicyArns.member."):
                position, field = name.removeprefix("PolicyArns.member.").split(".", 1)
                name = f"PolicyArns.member.{indexes[int(position) - 1]}.{field}"
            renamed[name] = value
        request.data = renamed

    sts.meta.events.register("before-sign.sts.AssumeRole", renumber)
    return sts


def test_every_session_policy_given_by_arn_applies_however_it_is_numbered(broker: LiveBroker, iam: Any) -> None:
    # A PolicyArns entry numbered from 2, or after a gap, was dropped without a word: the session
    # got all of the role's permissions where its caller asked for fewer.
    iam.create_role(RoleName="numbered", AssumeRolePolicyDocument=trust(ACCOUNT))
    iam.put_role_policy(RoleName="numbered", PolicyName="iam", PolicyDocument=document(allow("iam:*")))
    arn = ROLE_ARN + "numbered"
    readonly = [{"arn": "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}]
    for indexes in (("2",), ("7",)):
        sts = _policy_arns_numbered(admin_client(broker, "sts"), *indexes)
        answer = sts.assume_role(RoleArn=arn, RoleSessionName="narrow", PolicyArns=readonly)
        assert answer["PackedPolicySize"] > 0
        session_iam, _ = session_clients(broker, answer["Credentials"])
        assert session_iam.list_roles()["Roles"]
        assert error(session_iam.create_group, GroupName="nope")[0] == "AccessDenied"
    two = [*readonly, {"arn": "arn:aws:iam::aws:policy/IAMUserChangePassword"}]
    gap = _policy_arns_numbered(admin_client(broker, "sts"), "1", "3")
    session_iam, _ = session_clients(
        broker, gap.assume_role(RoleArn=arn, RoleSessionName="gap", PolicyArns=two)["Credentials"]
    )
    assert error(session_iam.create_group, GroupName="nope")[0] == "AccessDenied"
    for indexes in (("0",), ("01",), ("1" * 5000,)):
        sts = _policy_arns_numbered(admin_client(broker, "sts"), *indexes)
        assert error(sts.assume_role, RoleArn=arn, RoleSessionName="bad", PolicyArns=readonly)[0] == "ValidationError"
    eleven = _policy_arns_numbered(admin_client(broker, "sts"), *[str(i) for i in range(2, 13)])
    code_, message = error(eleven.assume_role, RoleArn=arn, RoleSessionName="bad", PolicyArns=readonly * 11)
    assert code_ == "ValidationError" and "less than or equal to 10" in message


def test_get_session_token(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "tokened", policy=document(allow("*")))
    sts = client(broker, "sts", key, secret)
    default = sts.get_session_token()["Credentials"]
    assert default["AccessKeyId"].startswith("ASIA") and 43100 < remaining(default) <= 43200
    short = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert 800 < remaining(short) <= 900
    assert error(sts.get_session_token, DurationSeconds=129601)[0] == "ValidationError"
    assert error(sts.get_session_token, DurationSeconds=899)[0] == "ValidationError"

    token_iam, token_sts = session_clients(broker, short)
    identity = token_sts.get_caller_identity()
    assert identity["Arn"] == USER_ARN + "tokened" and identity["UserId"].startswith("AIDA")
    assert identity["UserId"] == iam.get_user(UserName="tokened")["User"]["UserId"]
    # AWS: no IAM API without MFA, and no STS API but AssumeRole and GetCallerIdentity.
    assert error(token_iam.list_users)[0] == "InvalidClientTokenId"
    assert error(token_sts.get_session_token) == (
        "AccessDenied",
        "Cannot call GetSessionToken with session credentials",
    )
    assert error(token_sts.get_access_key_info, AccessKeyId=key)[0] == "AccessDenied"
    iam.create_role(RoleName="from-token", AssumeRolePolicyDocument=trust(ACCOUNT))
    assert token_sts.assume_role(RoleArn=ROLE_ARN + "from-token", RoleSessionName="tok")["AssumedRoleUser"]

    # MFA devices are not managed yet: a serial number cannot belong to the caller.
    mfa = error(sts.get_session_token, SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/tokened", TokenCode="123456")
    assert mfa[0] == "AccessDenied" and "MultiFactorAuthentication failed" in mfa[1]
    assert error(sts.get_session_token, SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/tokened", TokenCode="12")[0] == (
        "ValidationError"
    )
    assert (
        error(
            sts.assume_role,
            RoleArn=ROLE_ARN + "from-token",
            RoleSessionName="mfa",
            SerialNumber="GAHT12345678",
            TokenCode="123456",
        )[0]
        == "AccessDenied"
    )

    role_session = sts.assume_role(RoleArn=ROLE_ARN + "from-token", RoleSessionName="role")["Credentials"]
    _, role_sts = session_clients(broker, role_session)
    assert error(role_sts.get_session_token) == ("AccessDenied", "Cannot call GetSessionToken with session credentials")


def test_get_access_key_info(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "key-info", policy=document(allow("sts:GetAccessKeyInfo")))
    sts = client(broker, "sts", key, secret)
    assert sts.get_access_key_info(AccessKeyId=key)["Account"] == ACCOUNT
    iam.create_role(RoleName="key-info-role", AssumeRolePolicyDocument=trust(USER_ARN + "key-info"))
    temporary = sts.assume_role(RoleArn=ROLE_ARN + "key-info-role", RoleSessionName="key")["Credentials"]["AccessKeyId"]
    assert sts.get_access_key_info(AccessKeyId=temporary)["Account"] == ACCOUNT
    assert error(sts.get_access_key_info, AccessKeyId="AKIAIOSFODNN7EXAMPLE")[0] == "InvalidParameterValue"
    assert error(sts.get_access_key_info, AccessKeyId="short")[0] == "ValidationError"
    other_key, other_secret = user_with_key(iam, "key-info-denied")
    assert (
        error(client(broker, "sts", other_key, other_secret).get_access_key_info, AccessKeyId=key)[0] == "AccessDenied"
    )


def test_sts_calls_are_audited_without_secrets(broker: LiveBroker, iam: Any) -> None:
    iam.create_role(RoleName="audited", AssumeRolePolicyDocument=trust(ACCOUNT))
    sts = admin_client(broker, "sts")
    assumed = sts.assume_role(RoleArn=ROLE_ARN + "audited", RoleSessionName="audit-me")["Credentials"]
    token = sts.get_session_token(DurationSeconds=900)["Credentials"]
    with broker.runtime.db.transaction() as session:
        records = [
            e.record
            for e in session.scalars(
                select(models.AuditEvent).where(models.AuditEvent.event_name.in_(["AssumeRole", "GetSessionToken"]))
            )
        ]
    text = json.dumps(records)
    for credentials in (assumed, token):
        assert credentials["SecretAccessKey"] not in text and credentials["SessionToken"] not in text
    assumed_record = next(
        r
        for r in records
        if r["eventName"] == "AssumeRole" and r["requestParameters"].get("roleSessionName") == "audit-me"
    )
    assert assumed_record["responseElements"]["credentials"]["accessKeyId"] == assumed["AccessKeyId"]
    assert {"ARN": ROLE_ARN + "audited"} in assumed_record["resources"]
    assert assumed_record["userIdentity"]["arn"] == f"{USER_ARN}admin"
