"""A live broker wired to a SimpleSAMLphp IdP: provider registered, roles mapped, HTTP helpers."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from html import unescape

from broker.services.iam import principals, providers, roles
from broker.services.runtime import Runtime
from tests.support.simplesamlphp import SamlPostForm

ACCOUNT = "123456789012"
ROLE_ATTR = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_NAME_ATTR = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"


def provider_arn(name: str = "ssp") -> str:
    return f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def users() -> dict[str, dict[str, object]]:
    """alice: AWS-style Role attribute; bob and dave: group-mapped (dave to two roles); carol: listed
    role her groups don't allow."""
    return {
        "alice": {
            "password": "alicepw",
            "attributes": {
                "uid": ["alice"],
                "mail": ["alice@example.org"],
                "groups": ["admins"],
                ROLE_ATTR: [f"{role_arn('Admin')},{provider_arn()}"],
                SESSION_NAME_ATTR: ["alice"],
            },
        },
        "bob": {
            "password": "bobpw",
            "attributes": {"uid": ["bob"], "mail": ["bob@example.org"], "groups": ["engineers", "staff"]},
        },
        "dave": {
            "password": "davepw",
            "attributes": {"uid": ["dave"], "groups": ["admins", "engineers"], SESSION_NAME_ATTR: ["dave"]},
        },
        "carol": {
            "password": "carolpw",
            "attributes": {
                "uid": ["carol"],
                "groups": ["contractors"],
                ROLE_ATTR: [f"{provider_arn()},{role_arn('Engineer')}"],
            },
        },
    }


def group_trust_policy(provider: str, group: str, acs_url: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {"saml:aud": acs_url},
                        "ForAnyValue:StringEquals": {"saml:groups": group},
                    },
                }
            ],
        }
    )


def register(runtime: Runtime, metadata_xml: str, name: str = "ssp", options: dict[str, object] | None = None) -> None:
    """The IdP as a provider, and two roles mapped by group (Admin also listed by alice's Role attribute)."""
    with runtime.db.transaction() as session:
        providers.create_saml_provider(session, ACCOUNT, name, metadata_xml, None, runtime.now(), options=options)
        for role, group in (("Admin", "admins"), ("Engineer", "engineers")):
            roles.create_role(
                session,
                ACCOUNT,
                name=role,
                trust_policy=group_trust_policy(provider_arn(name), group, runtime.settings.acs_url),
                path="/",
                description=f"{role} role",
                max_session_duration=7200,
                permissions_boundary=None,
                tags=None,
                now=runtime.now(),
            )
            principals.put_inline(
                session,
                "Role",
                ACCOUNT,
                role,
                "whoami",
                json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
                    }
                ),
            )


@dataclass(frozen=True)
class Page:
    status: int
    url: str
    body: str

    def element(self, element_id: str) -> str:
        match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', self.body)
        if match is None:
            raise AssertionError(f"no #{element_id} in {self.status} page: {self.body[:400]}")
        return unescape(match.group(1)).strip()


def post_to_acs(form: SamlPostForm, jar: http.cookiejar.CookieJar | None = None) -> Page:
    """POST the IdP's form to the broker's ACS as the browser would (same cookie jar)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar or http.cookiejar.CookieJar()))
    request = urllib.request.Request(
        form.action, data=form.form_body(), method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with opener.open(request, timeout=30) as response:
            return Page(response.status, response.url, response.read().decode())
    except urllib.error.HTTPError as exc:
        return Page(exc.code, exc.url, exc.read().decode())
