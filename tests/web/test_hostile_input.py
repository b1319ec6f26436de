"""Hostile requests get precise refusals, never a 500, a traceback or a redirect off-site."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.demo.setup import demo_idp, prepare_demo, seed_demo
from broker.saml.acs import AcsPolicy, validate_response
from broker.saml.errors import SamlError
from broker.services.iam import roles
from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.support.brokers import make_runtime, make_settings
from tests.support.demo_flow import element_text


@pytest.fixture
def demo_app(tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str) -> Iterator[Flask]:
    settings = make_settings(tmp_path, keys_dir, sqlite_url, base_url, demo=True)
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    yield create_app(runtime=runtime)
    runtime.db.dispose()


@pytest.fixture
def client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b64(b"not xml at all"), "MalformedMessage"),
        ("%%%not-base64%%%", "MalformedMessage"),
        (b64(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'), "ForbiddenXml"),
        (b64(b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>'), "ForbiddenXml"),
        (b64(b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>'), "MalformedMessage"),
        (
            b64(
                b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0" ID="x" '
                b'IssueInstant="2026-01-01T00:00:00Z"/>'
            ),
            "Expired",
        ),
    ],
)
def test_garbage_at_the_acs_is_refused_with_its_reason(client: FlaskClient, body: str, code: str) -> None:
    refused = client.post("/saml/acs", data={"SAMLResponse": body}, follow_redirects=True)
    assert refused.status_code == 403
    assert element_text(refused.text, "error-code") == code
    assert "Traceback" not in refused.text


def test_oversized_post_is_refused(client: FlaskClient, demo_app: Flask) -> None:
    limit = demo_app.extensions["broker.runtime"].settings.saml_max_response_bytes
    refused = client.post("/saml/acs", data={"SAMLResponse": "A" * (limit + 10_000)}, follow_redirects=True)
    assert refused.status_code == 413
    assert element_text(refused.text, "error-code") == "MessageTooLarge"


def test_missing_response_is_a_clear_page(client: FlaskClient) -> None:
    refused = client.post("/saml/acs", data={}, follow_redirects=True)
    assert refused.status_code == 400
    assert element_text(refused.text, "error-code") == "MissingResponse"


def test_off_site_relay_state_at_the_acs_is_refused(client: FlaskClient, demo_app: Flask) -> None:
    runtime: Runtime = demo_app.extensions["broker.runtime"]
    response = demo_idp(runtime).response_for("alice", None, runtime.settings.acs_url, runtime.settings.sp_entity_id)
    refused = client.post(
        "/saml/acs", data={"SAMLResponse": response, "RelayState": "https://evil.example/x"}, follow_redirects=True
    )
    assert refused.status_code == 403
    assert element_text(refused.text, "error-code") == "BadRelayState"
    assert "Location" not in refused.headers


def test_local_relay_state_is_followed(client: FlaskClient, demo_app: Flask) -> None:
    runtime: Runtime = demo_app.extensions["broker.runtime"]
    response = demo_idp(runtime).response_for("alice", None, runtime.settings.acs_url, runtime.settings.sp_entity_id)
    followed = client.post(
        "/saml/acs", data={"SAMLResponse": response, "RelayState": "/saml/roles"}, follow_redirects=True
    )
    assert followed.status_code == 200
    assert 'id="role-form"' in followed.text


@pytest.mark.parametrize("provider", ["", "nope", "../../etc", "a" * 5000, "arn:aws:iam::1:saml-provider/x"])
def test_login_with_bad_provider_names(client: FlaskClient, provider: str) -> None:
    response = client.get("/saml/login", query_string={"provider": provider})
    assert response.status_code in (400, 404)
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "form",
    [
        {"Action": "GetRole"},
        {"Action": "AssumeRoleWithSAML"},
        {"Action": "AssumeRoleWithSAML", "RoleArn": "x", "PrincipalArn": "y", "SAMLAssertion": "zzzz"},
        {
            "Action": "AssumeRoleWithSAML",
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "PrincipalArn": "arn:aws:iam::123456789012:saml-provider/demo",
            "SAMLAssertion": "zzzz",
            "DurationSeconds": "lots",
        },
        {
            "Action": "AssumeRoleWithSAML",
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "PrincipalArn": "arn:aws:iam::123456789012:saml-provider/demo",
            "SAMLAssertion": "zzzz",
            "PolicyArns.member.1.arn": "not-an-arn",
        },
        {"Action": "CreateRole", "RoleName": "x"},
    ],
)
def test_aws_endpoint_answers_malformed_calls_with_aws_errors(client: FlaskClient, form: dict[str, str]) -> None:
    response = client.post("/", data={"Version": "2011-06-15", **form})
    assert 400 <= response.status_code < 500
    assert response.text.startswith("<ErrorResponse")
    assert "<Code>" in response.text


@pytest.mark.parametrize("depth", [450, 1000, 5000])
def test_a_parameter_name_of_many_parts_is_refused_as_unsigned_not_a_500(client: FlaskClient, depth: int) -> None:
    name = ".".join(["Foo"] + ["a"] * depth)
    response = client.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15", name: "x"})
    assert response.status_code == 403, response.text
    assert "<Code>MissingAuthenticationToken</Code>" in response.text


def test_single_role_auto_selection_can_be_turned_off(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str
) -> None:
    settings = make_settings(tmp_path, keys_dir, sqlite_url, base_url, demo=True, auto_select_single_role=False)
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    with runtime.db.transaction() as session:  # leave bob one role
        roles.update_assume_role_policy(
            session,
            "123456789012",
            "DemoReadOnly",
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*"}]}',
        )
    response = demo_idp(runtime).response_for("bob", None, settings.acs_url, settings.sp_entity_id)
    page = (
        create_app(runtime=runtime)
        .test_client()
        .post("/saml/acs", data={"SAMLResponse": response}, follow_redirects=True)
    )
    assert 'id="role-form"' in page.text
    assert page.text.count('name="role_arn"') == 1
    runtime.db.dispose()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=400).map(b64), st.text(max_size=200)))
def test_arbitrary_input_only_ever_raises_saml_error(data: str) -> None:
    policy = AcsPolicy(
        acs_url="https://sp.example/saml/acs", sp_entity_id="https://sp.example/saml/metadata", decryption_keys=()
    )
    with pytest.raises(SamlError):
        validate_response(data, policy, lambda issuer, in_response_to: None)


def test_oversized_json_protocol_call_gets_a_json_error(client: FlaskClient) -> None:
    response = client.post(
        "/",
        data="x" * (2 * 1024 * 1024),
        headers={
            "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert response.status_code == 413
    assert response.headers["x-amzn-ErrorType"] == "InvalidParameterValue"
    assert json.loads(response.data)["__type"] == "InvalidParameterValue"
