"""boto3 and the AWS CLI against a live broker, with assertions from a real SimpleSAMLphp IdP."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.interop import provider_arn, register, role_arn, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp

pytestmark = pytest.mark.simplesamlphp
NO_RETRIES = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


@pytest.fixture
def idp(broker: LiveBroker) -> Iterator[SimpleSamlPhpIdp]:
    with SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users()) as running:
        register(broker.runtime, running.metadata_xml())
        yield running


def sts(broker: LiveBroker, **credentials: str) -> object:
    return boto3.client(
        "sts",
        endpoint_url=broker.url,
        region_name="us-east-1",
        config=NO_RETRIES,
        aws_access_key_id=credentials.get("key", "AKIAIOSFODNN7EXAMPLE"),
        aws_secret_access_key=credentials.get("secret", "unused-for-unsigned-calls"),
        aws_session_token=credentials.get("token"),
    )


def assume(broker: LiveBroker, assertion: str, role: str = "Engineer", **extra: object) -> dict[str, object]:
    client = sts(broker)
    return client.assume_role_with_saml(  # type: ignore[attr-defined, no-any-return]
        RoleArn=role_arn(role), PrincipalArn=provider_arn(), SAMLAssertion=assertion, **extra
    )


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_boto3_assume_role_with_saml_then_get_caller_identity(broker: LiveBroker, idp: SimpleSamlPhpIdp) -> None:
    result = assume(broker, idp.login_http("bob").saml_response, DurationSeconds=1800)
    credentials = result["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")  # type: ignore[index]
    assert result["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/Engineer/bob"  # type: ignore[index]
    assert result["AssumedRoleUser"]["AssumedRoleId"].endswith(":bob")  # type: ignore[index]
    assert result["Issuer"] == idp.entity_id
    assert result["Audience"] == broker.runtime.settings.acs_url
    assert result["Subject"] == "bob" and result["SubjectType"] == "persistent"
    assert len(result["NameQualifier"]) == 28  # type: ignore[arg-type]  # base64 of a SHA-1
    expiration = credentials["Expiration"]  # type: ignore[index]
    remaining = (expiration - dt.datetime.now(dt.UTC)).total_seconds()
    assert 1700 < remaining <= 1800

    caller = sts(
        broker,
        key=credentials["AccessKeyId"],
        secret=credentials["SecretAccessKey"],  # type: ignore[index]
        token=credentials["SessionToken"],
    ).get_caller_identity()  # type: ignore[index, attr-defined]
    assert caller["Arn"] == "arn:aws:sts::123456789012:assumed-role/Engineer/bob"
    assert caller["Account"] == "123456789012"
    assert caller["UserId"] == result["AssumedRoleUser"]["AssumedRoleId"]  # type: ignore[index]


def test_signed_call_errors(broker: LiveBroker, idp: SimpleSamlPhpIdp) -> None:
    credentials = assume(broker, idp.login_http("bob").saml_response)["Credentials"]
    key, secret, token = (credentials[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken"))  # type: ignore[index]

    with pytest.raises(ClientError) as wrong_secret:
        sts(broker, key=key, secret="x" * 40, token=token).get_caller_identity()  # type: ignore[attr-defined]
    assert error_code(wrong_secret) == "SignatureDoesNotMatch"

    header, payload, signature = token.split(".")
    tampered = ".".join((header, payload, signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")))
    with pytest.raises(ClientError) as bad_token:
        sts(broker, key=key, secret=secret, token=tampered).get_caller_identity()  # type: ignore[attr-defined]
    assert error_code(bad_token) == "InvalidClientTokenId"

    with pytest.raises(ClientError) as unknown_key:
        sts(broker, key="AKIAIOSFODNN7EXAMPLE", secret="y" * 40).get_caller_identity()  # type: ignore[attr-defined]
    assert error_code(unknown_key) == "InvalidClientTokenId"

    real_clock = broker.runtime.clock
    broker.runtime.clock = lambda: real_clock() + dt.timedelta(hours=2)
    try:
        with pytest.raises(ClientError) as expired:
            # the token's expiry is checked before the signature's time window
            sts(broker, key=key, secret=secret, token=token).get_caller_identity()  # type: ignore[attr-defined]
    finally:
        broker.runtime.clock = real_clock
    assert error_code(expired) == "ExpiredToken"


def test_saml_rejections_use_aws_error_codes(broker: LiveBroker, idp: SimpleSamlPhpIdp) -> None:
    assertion = idp.login_http("bob").saml_response
    with pytest.raises(ClientError) as not_trusted:
        assume(broker, assertion, role="Admin")  # bob is not in "admins"
    assert error_code(not_trusted) == "AccessDenied"

    with pytest.raises(ClientError) as too_long:
        assume(broker, idp.login_http("bob").saml_response, DurationSeconds=43200)  # role allows 7200
    assert error_code(too_long) == "ValidationError"

    assume(broker, assertion)
    with pytest.raises(ClientError) as replay:
        assume(broker, assertion)
    assert error_code(replay) == "InvalidIdentityToken"

    with pytest.raises(ClientError) as garbage:
        assume(broker, "PHNhbWxwOlJlc3BvbnNlLz4=")
    assert error_code(garbage) == "InvalidIdentityToken"

    fresh = idp.login_http("bob").saml_response
    real_clock = broker.runtime.clock
    broker.runtime.clock = lambda: real_clock() + dt.timedelta(hours=1)
    try:
        with pytest.raises(ClientError) as expired:
            assume(broker, fresh)
    finally:
        broker.runtime.clock = real_clock
    assert error_code(expired) == "ExpiredTokenException"

    with pytest.raises(ClientError) as malformed_policy:
        assume(broker, fresh, Policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}')
    assert error_code(malformed_policy) == "MalformedPolicyDocument"


def test_session_policy_reports_packed_size(broker: LiveBroker, idp: SimpleSamlPhpIdp) -> None:
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
        }
    )
    result = assume(broker, idp.login_http("bob").saml_response, Policy=policy)
    assert 0 < result["PackedPolicySize"] <= 100  # type: ignore[operator]


def test_aws_cli_assume_role_with_saml_and_get_caller_identity(
    broker: LiveBroker, idp: SimpleSamlPhpIdp, tmp_path: Path
) -> None:
    aws = str(Path(sys.executable).with_name("aws"))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ENDPOINT_URL": broker.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_MAX_ATTEMPTS": "1",
    }
    assertion_file = tmp_path / "assertion.b64"
    assertion_file.write_text(idp.login_http("alice").saml_response)
    assumed = subprocess.run(
        [
            aws,
            "sts",
            "assume-role-with-saml",
            "--role-arn",
            role_arn("Admin"),
            "--principal-arn",
            provider_arn(),
            "--saml-assertion",
            f"file://{assertion_file}",
            "--no-sign-request",
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert assumed.returncode == 0, assumed.stderr
    credentials = json.loads(assumed.stdout)["Credentials"]
    env.update(
        AWS_ACCESS_KEY_ID=credentials["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
        AWS_SESSION_TOKEN=credentials["SessionToken"],
    )
    identity = subprocess.run(
        [aws, "sts", "get-caller-identity", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert identity.returncode == 0, identity.stderr
    assert json.loads(identity.stdout)["Arn"] == "arn:aws:sts::123456789012:assumed-role/Admin/alice"
