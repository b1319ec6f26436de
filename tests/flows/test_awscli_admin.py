"""An administrator's script with the AWS CLI from PyPI, end to end against a live broker.

The administrator registers SimpleSAMLphp as a SAML provider from its metadata, creates a role
trusting it, a group with a managed policy and a user with an access key; the user then calls
IAM with its own key and is allowed or denied as the group's policy says; a person signed in at
the IdP assumes the new role.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.services.setup import bootstrap_admin
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.interop import group_trust_policy, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp

pytestmark = pytest.mark.simplesamlphp
ACCOUNT = "123456789012"
AWS = str(Path(sys.executable).with_name("aws"))


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


class Cli:
    """``aws ...`` as a subprocess with a clean environment pointed at the broker."""

    def __init__(self, broker: LiveBroker, home: Path) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "AWS_ENDPOINT_URL": broker.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        }

    def as_keys(self, key: str, secret: str) -> Cli:
        other = Cli.__new__(Cli)
        other.env = {**self.env, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
        return other

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AWS, *args, "--output", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def __call__(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None


def test_admin_script_end_to_end(broker: LiveBroker, tmp_path: Path) -> None:
    runtime = broker.runtime
    admin = bootstrap_admin(runtime)
    aws = Cli(broker, tmp_path).as_keys(admin.access_key_id, admin.secret_access_key)
    with SimpleSamlPhpIdp(runtime.sp.metadata_xml, users()) as idp:
        metadata = tmp_path / "idp-metadata.xml"
        metadata.write_text(idp.metadata_xml())
        trust = tmp_path / "trust.json"
        provider_arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/ssp"
        trust.write_text(group_trust_policy(provider_arn, "engineers", runtime.settings.acs_url))
        read_iam = tmp_path / "read-iam.json"
        read_iam.write_text(
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}],
                },
                indent=2,
            )
        )

        created = aws("iam", "create-saml-provider", "--name", "ssp", "--saml-metadata-document", f"file://{metadata}")
        assert created["SAMLProviderArn"] == provider_arn
        role = aws(
            "iam",
            "create-role",
            "--role-name",
            "Engineer",
            "--assume-role-policy-document",
            f"file://{trust}",
            "--max-session-duration",
            "7200",
        )["Role"]
        assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/Engineer"
        policy_arn = aws("iam", "create-policy", "--policy-name", "ReadIam", "--policy-document", f"file://{read_iam}")[
            "Policy"
        ]["Arn"]
        aws("iam", "create-group", "--group-name", "auditors")
        aws("iam", "attach-group-policy", "--group-name", "auditors", "--policy-arn", policy_arn)
        aws("iam", "create-user", "--user-name", "operator", "--tags", "Key=team,Value=sec")
        aws("iam", "add-user-to-group", "--group-name", "auditors", "--user-name", "operator")
        key = aws("iam", "create-access-key", "--user-name", "operator")["AccessKey"]

        operator = aws.as_keys(key["AccessKeyId"], key["SecretAccessKey"])
        roles = operator("iam", "list-roles")["Roles"]
        assert [r["RoleName"] for r in roles] == ["Engineer"]
        assert roles[0]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Federated": provider_arn}
        entities = operator("iam", "list-entities-for-policy", "--policy-arn", policy_arn)
        assert [g["GroupName"] for g in entities["PolicyGroups"]] == ["auditors"]
        refused = operator.run("iam", "create-user", "--user-name", "mallory")
        assert refused.returncode != 0
        assert "AccessDenied" in refused.stderr and "iam:CreateUser" in refused.stderr
        assert key["SecretAccessKey"] not in refused.stderr

        # A person signed in at the IdP assumes the role the script created.
        assertion = tmp_path / "assertion.b64"
        assertion.write_text(idp.login_http("bob").saml_response)
        assumed = Cli(broker, tmp_path)(
            "sts",
            "assume-role-with-saml",
            "--role-arn",
            role["Arn"],
            "--principal-arn",
            provider_arn,
            "--saml-assertion",
            f"file://{assertion}",
            "--no-sign-request",
        )
        assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Engineer/bob"

    # The administrator removes the user again: keys and memberships first, as AWS demands.
    blocked = aws.run("iam", "delete-user", "--user-name", "operator")
    assert blocked.returncode != 0 and "DeleteConflict" in blocked.stderr
    aws("iam", "delete-access-key", "--user-name", "operator", "--access-key-id", key["AccessKeyId"])
    aws("iam", "remove-user-from-group", "--group-name", "auditors", "--user-name", "operator")
    aws("iam", "delete-user", "--user-name", "operator")
    denied_now = operator.run("iam", "list-roles")
    assert denied_now.returncode != 0 and "InvalidClientTokenId" in denied_now.stderr
