"""SAML sign-ins and MFA: the ``saml_mfa_authn_contexts`` setting maps the assertion's
AuthnContextClassRef to multi-factor, and a role's trust policy can require the MFA class
(``saml:authncontextclassref``). A real SimpleSAMLphp IdP against a live broker."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.crypto.tokens import decode_session_token
from broker.services.federation.provider_lists import mfa_authn_contexts
from broker.services.iam import providers, roles
from broker.settings import Settings, SettingsError, load_settings
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.interop import ACCOUNT, Page, post_to_acs, provider_arn, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp

MFA_CLASS = "http://schemas.microsoft.com/claims/multipleauthn"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(
        tmp_path,
        keys_dir,
        f"sqlite:///{tmp_path / 'broker.db'}",
        f"http://127.0.0.1:{port}",
        saml_mfa_authn_contexts=(f"ssp:{MFA_CLASS}",),
    )
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


def _mfa_trust(acs_url: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn()},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {"saml:aud": acs_url, "saml:authncontextclassref": MFA_CLASS},
                        "ForAnyValue:StringEquals": {"saml:groups": "engineers"},
                    },
                }
            ],
        }
    )


def _start(broker: LiveBroker, class_ref: str) -> SimpleSamlPhpIdp:
    idp = SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users(), authn_context_class_ref=class_ref)  # type: ignore[arg-type]
    idp.start()
    runtime = broker.runtime
    with runtime.db.transaction() as session:
        providers.create_saml_provider(session, ACCOUNT, "ssp", idp.metadata_xml(), None, runtime.now())
        for role in ("MfaOperator", "MfaAuditor"):
            roles.create_role(
                session,
                ACCOUNT,
                name=role,
                trust_policy=_mfa_trust(runtime.settings.acs_url),
                path="/",
                description="needs MFA at the IdP",
                max_session_duration=3600,
                permissions_boundary=None,
                tags=None,
                now=runtime.now(),
            )
    return idp


def _sign_in(broker: LiveBroker, idp: SimpleSamlPhpIdp) -> tuple[Page, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    form = idp.login_http("bob", start_url=f"{broker.url}/saml/login?provider=ssp", cookie_jar=jar)
    return post_to_acs(form, jar), jar  # type: ignore[arg-type]


@pytest.mark.simplesamlphp
def test_a_sign_in_whose_context_maps_to_mfa_gets_the_role_and_an_mfa_session(broker: LiveBroker) -> None:
    idp = _start(broker, MFA_CLASS)
    try:
        page, jar = _sign_in(broker, idp)
    finally:
        idp.stop()
    assert page.status == 200, page.body
    assert page.element("mfa-status") == "yes"  # the role selection page
    assert re.findall(r'name="role_arn"[^>]*value="([^"]+)"', page.body) == [
        f"arn:aws:iam::{ACCOUNT}:role/MfaAuditor",
        f"arn:aws:iam::{ACCOUNT}:role/MfaOperator",
    ]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.body)
    assert csrf is not None
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    body = urllib.parse.urlencode(
        {"csrf_token": csrf.group(1), "role_arn": f"arn:aws:iam::{ACCOUNT}:role/MfaOperator", "duration": "3600"}
    ).encode()
    with opener.open(urllib.request.Request(f"{broker.url}/saml/roles", data=body, method="POST"), timeout=30) as r:
        credentials = Page(r.status, r.url, r.read().decode())
    assert credentials.element("mfa-status") == "yes"  # the credentials page
    token = credentials.element("session-token")
    runtime = broker.runtime
    claims = decode_session_token(token, runtime.keys.token_keys, runtime.settings.base_url)
    assert claims.mfa and claims.role_name == "MfaOperator"


@pytest.mark.simplesamlphp
def test_a_sign_in_whose_context_does_not_map_is_refused_with_the_no_role_page(broker: LiveBroker) -> None:
    idp = _start(broker, PASSWORD_CLASS)
    try:
        page, _jar = _sign_in(broker, idp)
    finally:
        idp.stop()
    assert page.status == 403, page.body
    assert page.element("no-roles-reason").startswith("You signed in as")
    assert "2 role(s) trust this provider, and your sign-in did not meet their conditions" in page.body
    assert page.element("mfa-status") == "no"
    context = re.search(r'id="authn-context">(.*?)</p>', page.body, re.S)
    assert context is not None and PASSWORD_CLASS in context.group(1)


def test_the_setting_is_validated_and_read_per_provider() -> None:
    settings = load_settings(environ={"BROKER_SAML_MFA_AUTHN_CONTEXTS": f"ssp:{MFA_CLASS}, entra:urn:example:mfa"})
    assert mfa_authn_contexts(settings, "ssp") == {MFA_CLASS}
    assert mfa_authn_contexts(settings, "entra") == {"urn:example:mfa"}
    assert mfa_authn_contexts(Settings(), "ssp") == frozenset()
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"BROKER_SAML_MFA_AUTHN_CONTEXTS": "no-colon,bad name!:urn:x,ssp:"})
    assert len([p for p in raised.value.problems if p.startswith("saml_mfa_authn_contexts:")]) == 3
