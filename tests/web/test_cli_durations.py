"""Duration fields of the CLI sign-in holding what ``str.isdigit()`` passes and ``int()`` refuses
(or reads as another number): a 4xx in each endpoint's own shape, audited, never a 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from broker.services.runtime import Runtime
from tests.flows.test_cli_protocol import (
    READ_ONLY,
    audit,
    authorize,
    client,
    clock,
    consent,
    consent_page,
    redirected_params,
    runtime,
    signed_in,
    start_device,
    token,
)
from tests.support.demo_flow import csrf_token

__all__ = ["client", "clock", "runtime"]  # fixtures: a demo broker on SQLite and PostgreSQL

NOT_ASCII_SECONDS = [
    "\u00b2",  # superscript two: isdigit() is True, int() raises
    "3600\u00b2",
    "\u0663\u0666\u0660\u0660",  # Arabic-Indic 3600: int() reads it
    "\uff13\uff16\uff10\uff10",  # fullwidth 3600
    "+3600",
    " 3600",
    "9" * 5000,
]


@pytest.mark.parametrize("duration", NOT_ASCII_SECONDS)
def test_authorize_sends_invalid_request_back_to_the_cli(client: FlaskClient, runtime: Runtime, duration: str) -> None:
    refused = redirected_params(authorize(client, duration=duration))
    assert refused["error"] == "invalid_request" and "duration" in refused["error_description"]
    (event,) = audit(runtime, "CreateAuthorizationCode")
    assert event["errorCode"] == "invalid_request" and event["userIdentity"]["type"] == "Unknown"


def test_the_consent_form_refuses_a_tampered_duration(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    page = consent_page(client, role=None)
    for duration in ("\u00b2", "\u0663\u0666\u0660\u0660"):
        refused = consent(client, page, role_arn=READ_ONLY, duration=duration)
        assert refused.status_code == 400 and "InvalidRequest" in refused.text
    assert [e["errorCode"] for e in audit(runtime, "CreateAuthorizationCode")] == ["InvalidRequest"] * 2
    # Nothing was spent: the untampered form still works.
    assert "code" in redirected_params(consent(client, page, role_arn=READ_ONLY))


@pytest.mark.parametrize("duration", NOT_ASCII_SECONDS)
def test_the_token_endpoint_answers_an_oauth_error(client: FlaskClient, runtime: Runtime, duration: str) -> None:
    refused = token(client, grant_type="refresh_token", refresh_token="whatever", duration=duration)
    assert refused.status_code == 400 and refused.json["error"] == "invalid_request"
    assert refused.headers["Cache-Control"] == "no-store"
    (event,) = audit(runtime, "CreateToken")
    assert event["errorCode"] == "invalid_request" and "duration" in event["errorMessage"]


@pytest.mark.parametrize("duration", NOT_ASCII_SECONDS)
def test_device_authorization_answers_an_oauth_error(client: FlaskClient, runtime: Runtime, duration: str) -> None:
    refused = client.post("/cli/device", data={"client_id": "broker-cli", "duration": duration})
    assert refused.status_code == 400 and refused.json["error"] == "invalid_request"
    (event,) = audit(runtime, "StartDeviceAuthorization")
    assert event["errorCode"] == "invalid_request"


def test_the_device_approval_form_refuses_a_tampered_duration(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    start = start_device(client)
    page = client.get(f"/cli/device/verify?user_code={start['user_code']}")
    refused = client.post(
        "/cli/device/verify",
        data={
            "user_code": start["user_code"],
            "action": "approve",
            "role_arn": READ_ONLY,
            "duration": "\u00b2",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert refused.status_code == 400 and "InvalidRequest" in refused.text
    assert [e["errorCode"] for e in audit(runtime, "ApproveDeviceAuthorization")] == ["InvalidRequest"]


def test_ascii_durations_still_work_everywhere(client: FlaskClient) -> None:
    assert client.post("/cli/device", data={"client_id": "broker-cli", "duration": "0900"}).status_code == 200
    signed_in(client)
    assert "code" in redirected_params(consent(client, consent_page(client, duration="900")))
