"""Session durations that are not ASCII numbers: a clear, audited refusal, never a 500.

``'²'.isdigit()`` is true and ``int('²')`` raises: a duration checked with ``isdigit`` reached
``int`` on the role page's form and in a signed assertion's SessionDuration attribute.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.crypto.tokens import decode_session_token
from broker.saml.assertion import SESSION_DURATION_ATTRIBUTE
from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.services.federation.corp import CORP_ARN, DEFAULT, IdpKeys, corp_runtime, refusals, signed_response
from tests.support.demo_flow import csrf_token, element_text
from tests.support.saml_factory import Attr

ENGINEER = f"arn:aws:iam::{DEFAULT}:role/Engineer"
NOT_ASCII_NUMBERS = ["²", "3600²", "٣٦٠٠", "\uff13\uff16\uff10\uff10", "abc", "-900", " 3600", "3600.0", "1" * 40]


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, sqlite_url: str, keys: IdpKeys) -> Iterator[Runtime]:
    runtime = corp_runtime(tmp_path, keys_dir, sqlite_url, keys)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def _role_page(client: FlaskClient, keys: IdpKeys) -> str:
    page = client.post("/saml/acs", data={"SAMLResponse": signed_response(keys, "_roles")}, follow_redirects=True)
    assert page.status_code == 200 and 'id="role-form"' in page.text
    return csrf_token(page.text)


@pytest.mark.parametrize("duration", NOT_ASCII_NUMBERS)
def test_the_role_form_refuses_a_duration_that_is_not_ascii_digits(
    client: FlaskClient, rt: Runtime, keys: IdpKeys, duration: str
) -> None:
    csrf = _role_page(client, keys)
    page = client.post(
        "/saml/roles", data={"role_arn": ENGINEER, "duration": duration, "csrf_token": csrf}, follow_redirects=True
    )
    assert page.status_code == 400
    assert element_text(page.text, "error-code") == "BadDuration"
    assert "access-key-id" not in page.text
    assert refusals(rt, "AssumeRoleWithSAML") == [
        ("BadDuration", "The session duration must be a whole number of seconds, such as 3600.")
    ]


@pytest.mark.parametrize(("duration", "seconds"), [("", 3600), ("1800", 1800), ("01800", 1800)])
def test_the_role_form_takes_ascii_seconds_or_nothing(
    client: FlaskClient, rt: Runtime, keys: IdpKeys, duration: str, seconds: int
) -> None:
    csrf = _role_page(client, keys)
    page = client.post(
        "/saml/roles", data={"role_arn": ENGINEER, "duration": duration, "csrf_token": csrf}, follow_redirects=True
    )
    assert page.status_code == 200, page.text
    assert 'id="access-key-id"' in page.text
    token = element_text(page.text, "session-token")
    claims = decode_session_token(token, rt.keys.token_keys, rt.settings.base_url)
    assert claims.expires_at - claims.issued_at == seconds


@pytest.mark.parametrize("duration", ["²", "٣٦٠٠", "0900x", "00000900"])
def test_a_signed_session_duration_that_is_not_ascii_digits_is_refused_at_the_acs(
    client: FlaskClient, rt: Runtime, keys: IdpKeys, duration: str
) -> None:
    response = signed_response(keys, "_sd", Attr(SESSION_DURATION_ATTRIBUTE, (duration,)))
    page = client.post("/saml/acs", data={"SAMLResponse": response}, follow_redirects=True)
    assert page.status_code == 400
    assert element_text(page.text, "error-code") == "InvalidIdentityToken"
    assert refusals(rt, "ConsoleLogin") == [
        ("InvalidIdentityToken", "SessionDuration must be an integer from 900 to 43200")
    ]


def test_a_signed_session_duration_that_is_not_ascii_digits_is_refused_by_sts(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    assertion = signed_response(keys, "_sts", Attr(SESSION_DURATION_ATTRIBUTE, ("²",)))
    answer = client.post(
        "/",
        data={
            "Action": "AssumeRoleWithSAML",
            "Version": "2011-06-15",
            "RoleArn": ENGINEER,
            "PrincipalArn": CORP_ARN,
            "SAMLAssertion": assertion,
        },
    )
    assert answer.status_code == 400
    assert re.findall(r"<Code>([^<]*)</Code>", answer.text) == ["InvalidIdentityToken"]
    assert [code for code, _ in refusals(rt, "AssumeRoleWithSAML")] == ["InvalidIdentityToken"]


def test_a_signed_session_duration_in_ascii_digits_is_kept(client: FlaskClient, keys: IdpKeys) -> None:
    response = signed_response(keys, "_sd-ok", Attr(SESSION_DURATION_ATTRIBUTE, ("1800",)))
    page = client.post("/saml/acs", data={"SAMLResponse": response}, follow_redirects=True)
    assert page.status_code == 200
    # The role form preselects the duration the IdP asked for.
    assert re.search(r'<option value="1800"\s+selected>', page.text)
