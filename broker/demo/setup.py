"""DEMO ONLY: keys, provider and roles for `make demo` (groups mapped to roles by trust policies)."""

from __future__ import annotations

import json
from pathlib import Path

from broker.crypto.keys import generate_rsa_pair
from broker.demo.idp import DEMO_PROVIDER_NAME, DemoIdp
from broker.iam.arn import saml_provider_arn
from broker.services.runtime import Runtime
from broker.services.setup import SeedRole, seed_federation

DEMO_ROLES = {
    "DemoAdmin": ("admins", "Full access for members of the admins group.", 43200),
    "DemoDeveloper": ("developers", "Developer access for members of the developers group.", 28800),
    "DemoReadOnly": ("developers", "Read-only access for developers.", 3600),
}


def demo_key_files(runtime: Runtime) -> tuple[Path, Path]:
    directory = Path(runtime.settings.certs_dir)
    return directory / "demo-idp.key", directory / "demo-idp.crt"


def prepare_demo(runtime: Runtime) -> None:
    key_file, cert_file = demo_key_files(runtime)
    if not key_file.exists() or not cert_file.exists():
        key_pem, cert_pem = generate_rsa_pair("broker demo IdP (demo only)", key_size=2048)
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        cert_file.write_bytes(cert_pem)


def demo_idp(runtime: Runtime) -> DemoIdp:
    key_file, cert_file = demo_key_files(runtime)
    return DemoIdp(runtime.settings.base_url, key_file, cert_file, runtime.sp.metadata_xml)


def trust_policy(provider_arn: str, acs_url: str, group: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {"saml:aud": acs_url},
                        "ForAnyValue:StringEquals": {"saml:groups": group},
                    },
                }
            ],
        },
        indent=2,
    )


def access_policy(group: str) -> str:
    """What a demo role may do: everything for the admins' role, reading IAM for the others."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
                {"Effect": "Allow", "Action": "iam:Get*" if group != "admins" else "*", "Resource": "*"},
            ],
        }
    )


def seed_demo(runtime: Runtime) -> None:
    settings = runtime.settings
    provider_arn = saml_provider_arn(settings.default_account_id, DEMO_PROVIDER_NAME)
    roles = [
        SeedRole(
            name=role_name,
            path="/demo/",
            description=description,
            max_session_duration=max_duration,
            trust_policy=trust_policy(provider_arn, settings.acs_url, group),
            access_policy=access_policy(group),
            tags=(("purpose", "demo"),),
        )
        for role_name, (group, description, max_duration) in DEMO_ROLES.items()
    ]
    seed_federation(
        runtime,
        alias="demo",
        provider_name=DEMO_PROVIDER_NAME,
        metadata_xml=demo_idp(runtime).metadata_xml,
        source="demo",
        roles=roles,
    )
