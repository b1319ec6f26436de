"""The SSO-OIDC and portal APIs through the Flask test client, on SQLite and PostgreSQL.

Sign-in is real (the bundled demo IdP, SAML through /saml/acs); the AWS tool is played by hand so
that every refusal can be provoked and its exact AWS error, status and audit event checked.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.demo.setup import prepare_demo, seed_demo
from broker.services.cli_auth.pkce import s256_challenge
from broker.services.iam import roles as iam_roles
from broker.services.runtime import Runtime
from broker.settings import Settings, validate
from broker.store import models
from tests.support.brokers import make_runtime, make_settings
from tests.support.demo_flow import demo_sign_in

ACCOUNT = "123456789012"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CALLBACK = "http://127.0.0.1:{port}/oauth/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BEARER = "x-amz-sso_bearer_token"


class Clock:
    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str, clock: Clock) -> Iterator[Runtime]:
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, demo=True)
    rt = Runtime.from_settings(settings)
    prepare_demo(rt)
    rt.db.dispose()
    rt = make_runtime(settings)
    seed_demo(rt)
    rt.clock = clock
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    from broker.web.app import create_app

    return create_app(runtime=runtime).test_client()


@pytest.fixture
def browser(runtime: Runtime) -> FlaskClient:
    """A second client: the person's browser, separate from the tool's HTTP calls."""
    from broker.web.app import create_app

    return create_app(runtime=runtime).test_client()


def call(client: FlaskClient, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def aws_error(response: Any, code: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["x-amzn-ErrorType"] == code
    body: dict[str, Any] = response.get_json()
    return body


def register(client: FlaskClient, **extra: Any) -> dict[str, Any]:
    answer = call(client, "/client/register", {"clientName": "botocore-client-test", "clientType": "public", **extra})
    assert answer.status_code == 200, answer.text
    registration: dict[str, Any] = answer.get_json()
    return registration


def start_device(client: FlaskClient, registration: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    answer = call(
        client,
        "/device_authorization",
        {
            "clientId": registration["clientId"],
            "clientSecret": registration["clientSecret"],
            "startUrl": f"{runtime.settings.base_url}/start",
        },
    )
    assert answer.status_code == 200, answer.text
    started: dict[str, Any] = answer.get_json()
    return started


def refresh(client: FlaskClient, registration: dict[str, Any], refresh_token: str) -> Any:
    body = {
        "clientId": registration["clientId"],
        "clientSecret": registration["clientSecret"],
        "grantType": "refresh_token",
        "refreshToken": refresh_token,
    }
    return call(client, "/token", body)


def poll(client: FlaskClient, registration: dict[str, Any], device_code: str) -> Any:
    return call(
        client,
        "/token",
        {
            "clientId": registration["clientId"],
            "clientSecret": registration["clientSecret"],
            "grantType": DEVICE_GRANT,
            "deviceCode": device_code,
        },
    )


def hidden_fields(html: str) -> dict[str, str]:
    start = html.rindex("<form", 0, html.index('id="consent-form"'))
    form = html[start : html.index("</form>", start)]
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value:
            fields[unescape(name.group(1))] = unescape(value.group(1))
    return fields


def sign_in(browser: FlaskClient, user: str = "bob") -> None:
    page = demo_sign_in(browser, user, f"{user}-demo")
    assert page.status_code == 200, page.text[:300]


def approve_device(browser: FlaskClient, started: dict[str, Any], action: str = "approve") -> Any:
    page = browser.get(
        urlsplit(started["verificationUriComplete"]).path + "?" + urlsplit(started["verificationUriComplete"]).query
    )
    assert page.status_code == 200 and 'id="consent-form"' in page.text, page.text[:500]
    return browser.post("/device", data={**hidden_fields(page.text), "action": action})


def device_tokens(
    client: FlaskClient,
    browser: FlaskClient,
    runtime: Runtime,
    user: str = "bob",
    registration: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    registration = registration or register(client)
    started = start_device(client, registration, runtime)
    sign_in(browser, user)
    done = approve_device(browser, started)
    assert done.status_code == 200 and 'id="device-approved"' in done.text
    answer = poll(client, registration, started["deviceCode"])
    assert answer.status_code == 200, answer.text
    return registration, answer.get_json()


def audit(runtime: Runtime, name: str) -> list[dict[str, Any]]:
    with runtime.db.transaction() as session:
        rows = session.scalars(select(models.AuditEvent).where(models.AuditEvent.event_name == name))
        return [row.record for row in rows]


def errors_of(runtime: Runtime, name: str) -> list[str | None]:
    return [event.get("errorCode") for event in audit(runtime, name)]


# --- the device flow, end to end --------------------------------------------------------------------


def test_device_flow_lists_issues_and_logs_out(client: FlaskClient, browser: FlaskClient, runtime: Runtime) -> None:
    registration = register(client)
    assert registration["clientSecretExpiresAt"] > registration["clientIdIssuedAt"]
    started = start_device(client, registration, runtime)
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", started["userCode"])
    assert started["verificationUri"] == f"{runtime.settings.base_url}/device"
    assert started["interval"] == 5 and started["expiresIn"] == 600

    aws_error(poll(client, registration, started["deviceCode"]), "AuthorizationPendingException", 400)
    slow = aws_error(poll(client, registration, started["deviceCode"]), "SlowDownException", 400)
    assert slow["error"] == "slow_down" and slow["error_description"] == slow["message"]

    sign_in(browser)
    done = approve_device(browser, started)
    assert 'id="device-approved"' in done.text
    tokens = poll(client, registration, started["deviceCode"]).get_json()
    assert tokens["tokenType"] == "Bearer" and tokens["expiresIn"] == runtime.settings.sso_access_token_lifetime_seconds
    assert tokens["refreshToken"]
    # The device code is good once.
    aws_error(poll(client, registration, started["deviceCode"]), "InvalidGrantException", 400)

    bearer = {BEARER: tokens["accessToken"]}
    accounts = client.get("/assignment/accounts", headers=bearer).get_json()
    assert accounts == {"accountList": [{"accountId": ACCOUNT, "accountName": "demo"}]}
    roles = client.get("/assignment/roles", query_string={"account_id": ACCOUNT}, headers=bearer).get_json()
    assert [r["roleName"] for r in roles["roleList"]] == ["DemoDeveloper", "DemoReadOnly"]

    before = dt.datetime.now(dt.UTC)
    answer = client.get(
        "/federation/credentials", query_string={"role_name": "DemoDeveloper", "account_id": ACCOUNT}, headers=bearer
    )
    assert answer.status_code == 200, answer.text
    credentials = answer.get_json()["roleCredentials"]
    assert credentials["accessKeyId"].startswith("ASIA")
    expiration = dt.datetime.fromtimestamp(credentials["expiration"] / 1000, dt.UTC)
    assert dt.timedelta(minutes=59) < expiration - before <= dt.timedelta(hours=1, seconds=5)
    # The same issuing path as the role page: its AssumeRoleWithSAML event, and the portal's own.
    assert any(
        e["requestParameters"]["roleArn"].endswith("role/demo/DemoDeveloper")
        for e in audit(runtime, "AssumeRoleWithSAML")
    )
    assert errors_of(runtime, "GetRoleCredentials") == [None]

    assert client.post("/logout", headers=bearer).status_code == 200
    refused = aws_error(client.get("/assignment/accounts", headers=bearer), "UnauthorizedException", 401)
    assert set(refused) == {"message"}
    refused_refresh = refresh(client, registration, tokens["refreshToken"])
    aws_error(refused_refresh, "InvalidGrantException", 400)
    assert errors_of(runtime, "Logout") == [None]
    # No secret reaches the trail: not the client secret, device code, tokens or role secret.
    with runtime.db.transaction() as session:
        trail = json.dumps([row.record for row in session.scalars(select(models.AuditEvent))])
    for secret in (
        registration["clientSecret"],
        started["deviceCode"],
        tokens["accessToken"],
        tokens["refreshToken"],
        credentials["secretAccessKey"],
        credentials["sessionToken"],
    ):
        assert secret not in trail
    assert "UnauthorizedException" in errors_of(runtime, "ListAccounts")
    assert "InvalidGrantException" in errors_of(runtime, "CreateToken")


def test_the_bearer_header_reaches_the_app_under_its_underscore_name(
    client: FlaskClient, browser: FlaskClient, runtime: Runtime
) -> None:
    _registration, tokens = device_tokens(client, browser, runtime)
    for name in ("x-amz-sso_bearer_token", "X-Amz-Sso_Bearer_Token"):
        assert client.get("/assignment/accounts", headers={name: tokens["accessToken"]}).status_code == 200
    aws_error(client.get("/assignment/accounts"), "UnauthorizedException", 401)


def test_refresh_gives_a_new_access_token_and_honours_a_changed_trust_policy(
    client: FlaskClient, browser: FlaskClient, runtime: Runtime, clock: Clock
) -> None:
    registration, tokens = device_tokens(client, browser, runtime)
    body = {
        "clientId": registration["clientId"],
        "clientSecret": registration["clientSecret"],
        "grantType": "refresh_token",
        "refreshToken": tokens["refreshToken"],
    }
    clock.offset = dt.timedelta(seconds=runtime.settings.sso_access_token_lifetime_seconds + 1)
    aws_error(client.get("/assignment/accounts", headers={BEARER: tokens["accessToken"]}), "UnauthorizedException", 401)
    renewed = call(client, "/token", body).get_json()
    assert renewed["accessToken"] != tokens["accessToken"]
    bearer = {BEARER: renewed["accessToken"]}
    assert client.get("/assignment/accounts", headers=bearer).status_code == 200

    # An administrator narrows DemoReadOnly's trust policy: the next call knows.
    deny_all = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*"}]})
    with runtime.db.transaction() as tx:
        iam_roles.update_assume_role_policy(tx, ACCOUNT, "DemoReadOnly", deny_all)
    roles = client.get("/assignment/roles", query_string={"account_id": ACCOUNT}, headers=bearer).get_json()
    assert [r["roleName"] for r in roles["roleList"]] == ["DemoDeveloper"]
    aws_error(
        client.get(
            "/federation/credentials", query_string={"role_name": "DemoReadOnly", "account_id": ACCOUNT}, headers=bearer
        ),
        "ResourceNotFoundException",
        404,
    )
    with runtime.db.transaction() as tx:
        iam_roles.update_assume_role_policy(tx, ACCOUNT, "DemoDeveloper", deny_all)
    aws_error(call(client, "/token", body), "AccessDeniedException", 400)
    assert "AccessDeniedException" in errors_of(runtime, "CreateToken")

    # The session ends after sso_session_lifetime_seconds: the refresh token with it.
    clock.offset = dt.timedelta(seconds=runtime.settings.sso_session_lifetime_seconds + 1)
    aws_error(call(client, "/token", body), "InvalidGrantException", 400)


# --- the browser redirect (authorization code with PKCE) ---------------------------------------------


def authorize(client: FlaskClient, client_id: str, port: int = 53682, **overrides: str) -> Any:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK.format(port=port),
        "state": "state-1",
        "code_challenge_method": "S256",
        "code_challenge": s256_challenge(VERIFIER),
        "scopes": "sso:account:access",
        **overrides,
    }
    return client.get("/authorize", query_string=query)


def code_registration(client: FlaskClient) -> dict[str, Any]:
    return register(
        client,
        grantTypes=["authorization_code", "refresh_token"],
        redirectUris=["http://127.0.0.1/oauth/callback"],
        issuerUrl="http://127.0.0.1/start",
        scopes=["sso:account:access"],
    )


def exchange(
    client: FlaskClient, registration: dict[str, Any], code: str, verifier: str = VERIFIER, port: int = 53682
) -> Any:
    return call(
        client,
        "/token",
        {
            "clientId": registration["clientId"],
            "clientSecret": registration["clientSecret"],
            "grantType": "authorization_code",
            "code": code,
            "redirectUri": CALLBACK.format(port=port),
            "codeVerifier": verifier,
        },
    )


def new_code(browser: FlaskClient, registration: dict[str, Any], port: int = 53682) -> str:
    page = authorize(browser, registration["clientId"], port)
    assert page.status_code == 200 and 'id="consent-form"' in page.text, page.text[:500]
    assert "Location" not in page.headers  # a GET never issues a code
    answer = browser.post("/authorize/resume", data={**hidden_fields(page.text), "action": "approve"})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK.format(port=port)
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["state"] == "state-1"
    return params["code"]


def test_the_code_flow_signs_in_first_then_asks_then_exchanges_once(
    client: FlaskClient, browser: FlaskClient, runtime: Runtime
) -> None:
    registration = code_registration(client)
    # Not signed in yet: off to the IdP, to come back to the consent page.
    first = authorize(browser, registration["clientId"])
    assert first.status_code == 303 and "/saml/login" in first.headers["Location"]
    sign_in(browser)
    code = new_code(browser, registration, port=40123)  # any port on the registered callback
    aws_error(exchange(client, registration, code, verifier="x" * 43, port=40123), "InvalidGrantException", 400)
    wrong_secret = {**registration, "clientSecret": "not-the-secret"}
    aws_error(exchange(client, wrong_secret, code, port=40123), "InvalidClientException", 401)
    answer = exchange(client, registration, code, port=40123)
    assert answer.status_code == 200, answer.text
    tokens = answer.get_json()
    bearer = {BEARER: tokens["accessToken"]}
    assert client.get("/assignment/accounts", headers=bearer).status_code == 200
    # A replayed code is refused and revokes the session it opened.
    aws_error(exchange(client, registration, code, port=40123), "InvalidGrantException", 400)
    aws_error(client.get("/assignment/accounts", headers=bearer), "UnauthorizedException", 401)
    created = [e for e in audit(runtime, "CreateToken") if e.get("errorCode")]
    assert any(e["additionalEventData"].get("sessionsRevoked") == 1 for e in created if e.get("additionalEventData"))
    assert {"InvalidClientException", "InvalidGrantException"} <= {e["errorCode"] for e in created}


def test_cancel_on_the_consent_page_sends_access_denied(browser: FlaskClient, client: FlaskClient) -> None:
    registration = code_registration(client)
    sign_in(browser)
    page = authorize(browser, registration["clientId"])
    answer = browser.post("/authorize/resume", data={**hidden_fields(page.text), "action": "deny"})
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["access_denied"]
    forged = browser.post(
        "/authorize/resume", data={**hidden_fields(page.text), "consent_token": "forged", "action": "approve"}
    )
    assert forged.status_code in (403, 404) and "Location" not in forged.headers


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://evil.example/oauth/callback", "https://127.0.0.1:8000/oauth/callback", "http://127.0.0.1:8000/elsewhere"],
)
def test_a_redirect_off_the_loopback_callback_is_refused_on_a_page(
    browser: FlaskClient, client: FlaskClient, runtime: Runtime, redirect_uri: str
) -> None:
    registration = code_registration(client)
    sign_in(browser)
    refused = authorize(browser, registration["clientId"], redirect_uri=redirect_uri)
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert "InvalidRedirectUri" in refused.text
    assert "InvalidRedirectUri" in errors_of(runtime, "Authorize")


def test_a_client_uses_only_the_grants_it_registered_for(
    browser: FlaskClient, client: FlaskClient, runtime: Runtime
) -> None:
    # AWS: grantTypes "is used to restrict the token granting flows available to the client".
    code_only = register(client, grantTypes=["authorization_code"], redirectUris=["http://127.0.0.1/oauth/callback"])
    started = call(
        client,
        "/device_authorization",
        {
            "clientId": code_only["clientId"],
            "clientSecret": code_only["clientSecret"],
            "startUrl": f"{runtime.settings.base_url}/start",
        },
    )
    aws_error(started, "UnauthorizedClientException", 400)
    # A registration naming none (as the AWS CLI's device flow registers) gets the device flow and
    # refresh, and no code flow: it registered no redirect URI either.
    unnamed = register(client)
    assert start_device(client, unnamed, runtime)["deviceCode"]
    sign_in(browser)
    page = authorize(browser, unnamed["clientId"])
    assert page.status_code in (400, 403) and 'id="consent-form"' not in page.text
    device_only = register(client, grantTypes=["urn:ietf:params:oauth:grant-type:device_code"])
    registration, tokens = device_tokens(client, browser, runtime, registration=device_only)
    refreshed = refresh(client, registration, tokens["refreshToken"])
    aws_error(refreshed, "UnauthorizedClientException", 400)
    assert "UnauthorizedClientException" in errors_of(runtime, "CreateToken")


def test_pkce_is_required(browser: FlaskClient, client: FlaskClient, runtime: Runtime) -> None:
    registration = code_registration(client)
    sign_in(browser)
    refused = authorize(browser, registration["clientId"], code_challenge_method="plain")
    assert refused.status_code == 302
    assert parse_qs(urlsplit(refused.headers["Location"]).query)["error"] == ["invalid_request"]
    (event,) = audit(runtime, "Authorize")
    assert event["errorCode"] == "InvalidRequestException" and "S256" in event["errorMessage"]


# --- hostile requests -----------------------------------------------------------------------------------


def test_wrong_client_secret_and_unknown_clients_are_invalid_client(client: FlaskClient, runtime: Runtime) -> None:
    registration = register(client)
    body = {
        "clientId": registration["clientId"],
        "clientSecret": "wrong",
        "startUrl": f"{runtime.settings.base_url}/start",
    }
    refused = aws_error(call(client, "/device_authorization", body), "InvalidClientException", 401)
    assert refused["error"] == "invalid_client"
    aws_error(call(client, "/device_authorization", {**body, "clientId": "nobody"}), "InvalidClientException", 401)
    assert errors_of(runtime, "StartDeviceAuthorization") == ["InvalidClientException"] * 2
    other = {**body, "clientSecret": registration["clientSecret"], "startUrl": "https://d-123.awsapps.com/start"}
    aws_error(call(client, "/device_authorization", other), "InvalidRequestException", 400)
    aws_error(client.post("/token", data="not json", content_type="application/json"), "InvalidRequestException", 400)
    aws_error(
        call(client, "/token", {"clientId": "x", "clientSecret": "y", "grantType": "password"}),
        "UnsupportedGrantTypeException",
        400,
    )
    aws_error(
        call(client, "/client/register", {"clientName": "x", "clientType": "confidential"}),
        "InvalidClientMetadataException",
        400,
    )


def test_an_expired_device_code_is_expired_token(client: FlaskClient, runtime: Runtime, clock: Clock) -> None:
    registration = register(client)
    started = start_device(client, registration, runtime)
    clock.offset = dt.timedelta(minutes=11)
    aws_error(poll(client, registration, started["deviceCode"]), "ExpiredTokenException", 400)
    assert "ExpiredTokenException" in errors_of(runtime, "CreateToken")


def test_a_denied_device_is_access_denied(client: FlaskClient, browser: FlaskClient, runtime: Runtime) -> None:
    registration = register(client)
    started = start_device(client, registration, runtime)
    sign_in(browser)
    done = approve_device(browser, started, action="deny")
    assert 'id="device-denied"' in done.text
    aws_error(poll(client, registration, started["deviceCode"]), "AccessDeniedException", 400)


def test_wrong_user_codes_are_counted_and_locked_out(browser: FlaskClient, runtime: Runtime) -> None:
    sign_in(browser)
    for attempt in range(5):
        page = browser.get("/device", query_string={"user_code": "BCDF-GHJK"})
        assert page.status_code == 404, attempt
        assert 'value="BCDF-GHJK"' in page.text  # the code typed stays in the field, to correct it
    locked = browser.get("/device", query_string={"user_code": "BCDF-GHJK"})
    assert locked.status_code == 429 and 'data-code="TooManyUserCodeAttempts"' in locked.text
    assert errors_of(runtime, "VerifyUserCode").count("UnknownUserCode") == 5


def test_wrong_user_codes_lock_an_ipv6_client_out_in_every_address_of_its_network(
    browser: FlaskClient, client: FlaskClient, runtime: Runtime
) -> None:
    # An IPv6 client holds a whole /64: a fresh address per guess must not make a fresh guesser.
    sign_in(browser)
    for n in range(5):
        browser.environ_base["REMOTE_ADDR"] = f"2001:db8:5:6::{n + 1:x}"
        assert browser.get("/device", query_string={"user_code": "BCDF-GHJK"}).status_code == 404
    client.environ_base["REMOTE_ADDR"] = "2001:db8:5:6:ffff::1"  # another browser, same network
    sign_in(client, "alice")
    locked = client.get("/device", query_string={"user_code": "BCDF-GHJK"})
    assert locked.status_code == 429 and 'data-code="TooManyUserCodeAttempts"' in locked.text
    client.environ_base["REMOTE_ADDR"] = "2001:db8:5:7::1"  # the next /64 is someone else
    assert client.get("/device", query_string={"user_code": "BCDF-GHJK"}).status_code == 404


CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}


def test_another_site_cannot_lock_the_person_out_of_their_own_code(
    client: FlaskClient, browser: FlaskClient, runtime: Runtime
) -> None:
    # Wrong codes lock a browser and its address out after five. A page on another site can make a
    # signed-in browser send requests (an image, an auto-submitted form), so such requests must
    # not count: a cross-site link only fills in the field, and a decision needs the session's
    # CSRF token before any code is looked up.
    sign_in(browser)
    for _ in range(6):
        page = browser.get("/device", query_string={"user_code": "BCDF-GHJK"}, headers=CROSS_SITE)
        assert page.status_code == 200 and 'value="BCDF-GHJK"' in page.text
        assert 'id="consent-form"' not in page.text
        forged = browser.post("/device", data={"user_code": "BCDF-GHJK", "action": "approve"})
        assert forged.status_code == 403 and 'data-code="BadCsrf"' in forged.text
        forged = browser.post("/device", data={"user_code": "BCDF-GHJK"}, headers=CROSS_SITE)
        assert forged.status_code == 200 and 'id="consent-form"' not in forged.text
    assert errors_of(runtime, "VerifyUserCode").count("UnknownUserCode") == 0
    # The person's own code still opens, and approves.
    registration = register(client)
    started = start_device(client, registration, runtime)
    done = approve_device(browser, started)
    assert done.status_code == 200 and 'id="device-approved"' in done.text
    assert poll(client, registration, started["deviceCode"]).status_code == 200
    # A cross-site link to the real code fills it in without deciding anything.
    started = start_device(client, registration, runtime)
    path = urlsplit(started["verificationUriComplete"])
    page = browser.get(f"{path.path}?{path.query}", headers=CROSS_SITE)
    assert page.status_code == 200 and 'id="user-code-form"' in page.text and 'id="consent-form"' not in page.text


def test_a_role_not_offered_and_bad_parameters(client: FlaskClient, browser: FlaskClient, runtime: Runtime) -> None:
    _registration, tokens = device_tokens(client, browser, runtime)
    bearer = {BEARER: tokens["accessToken"]}
    for query, code, status in (
        ({"role_name": "DemoAdmin", "account_id": ACCOUNT}, "ResourceNotFoundException", 404),
        ({"role_name": "DemoDeveloper", "account_id": "210987654321"}, "ResourceNotFoundException", 404),
        ({"role_name": "DemoDeveloper"}, "InvalidRequestException", 400),
    ):
        aws_error(client.get("/federation/credentials", query_string=query, headers=bearer), code, status)
    aws_error(
        client.get(
            "/federation/credentials",
            query_string={"role_name": "DemoDeveloper", "account_id": ACCOUNT},
            headers={BEARER: "forged"},
        ),
        "UnauthorizedException",
        401,
    )
    assert errors_of(runtime, "GetRoleCredentials") == [
        "ResourceNotFoundException",
        "ResourceNotFoundException",
        "InvalidRequestException",
        "UnauthorizedException",
    ]
    aws_error(client.get("/assignment/roles", headers=bearer), "InvalidRequestException", 400)
    aws_error(
        client.get("/assignment/accounts", query_string={"max_result": "0"}, headers=bearer),
        "InvalidRequestException",
        400,
    )


def test_next_tokens_page_and_refuse_tampering(client: FlaskClient, browser: FlaskClient, runtime: Runtime) -> None:
    _registration, tokens = device_tokens(client, browser, runtime, user="alice")
    bearer = {BEARER: tokens["accessToken"]}
    names: list[str] = []
    next_token = None
    pages = 0
    while True:
        query = {"account_id": ACCOUNT, "max_result": "1", **({"next_token": next_token} if next_token else {})}
        page = client.get("/assignment/roles", query_string=query, headers=bearer).get_json()
        names += [r["roleName"] for r in page["roleList"]]
        pages += 1
        next_token = page.get("nextToken")
        if not next_token:
            break
    assert names == ["DemoAdmin", "DemoDeveloper", "DemoReadOnly"] and pages == 3

    first = client.get("/assignment/roles", query_string={"account_id": ACCOUNT, "max_result": "1"}, headers=bearer)
    token = first.get_json()["nextToken"]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-20] ^= 1  # the position or session id, under the same MAC
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for bad in (tampered, "garbage!", token[:-2]):
        query = {"account_id": ACCOUNT, "next_token": bad}
        aws_error(client.get("/assignment/roles", query_string=query, headers=bearer), "InvalidRequestException", 400)
    # A token of one listing does not continue another (accounts instead of roles).
    aws_error(
        client.get("/assignment/accounts", query_string={"next_token": token}, headers=bearer),
        "InvalidRequestException",
        400,
    )
    assert errors_of(runtime, "ListAccountRoles").count("InvalidRequestException") == 3


def test_the_start_page_lists_roles_once_signed_in(browser: FlaskClient, runtime: Runtime) -> None:
    anonymous = browser.get("/start")
    assert anonymous.status_code == 200 and 'id="sign-in"' in anonymous.text
    sign_in(browser)
    page = browser.get("/start")
    assert 'data-role-name="DemoDeveloper"' in page.text and 'data-role-name="DemoAdmin"' not in page.text
    assert f"sso_start_url = {runtime.settings.base_url}/start" in page.text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sso_session_lifetime_seconds", 7776001),
        ("sso_session_lifetime_seconds", 299),
        ("sso_access_token_lifetime_seconds", 59),
        ("sso_access_token_lifetime_seconds", 28801),  # longer than the session (8 h by default)
        ("sso_registration_lifetime_seconds", 60),
        ("sso_role_credentials_seconds", 600),
    ],
)
def test_sso_lifetimes_are_validated(name: str, value: int) -> None:
    problems = validate(replace(Settings(), **{name: value}))
    assert [p for p in problems if p.startswith(f"{name}:")], problems


def test_the_default_lifetimes_outlast_the_clients_refresh_window() -> None:
    settings = Settings()
    assert validate(settings) == []
    assert settings.sso_session_lifetime_seconds == 8 * 3600
    assert settings.sso_access_token_lifetime_seconds > 15 * 60
    assert settings.sso_role_credentials_seconds > 15 * 60


def test_over_the_address_budget_the_apis_answer_in_their_own_shape(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str
) -> None:
    from broker.web.app import create_app

    settings = make_settings(tmp_path, keys_dir, sqlite_url, base_url, rate_limits=("cli=1/h:2",))
    runtime = make_runtime(settings)
    try:
        client = create_app(runtime=runtime).test_client()
        for _ in range(2):
            aws_error(call(client, "/token", {}), "InvalidRequestException", 400)
        slow = aws_error(call(client, "/token", {}), "SlowDownException", 400)
        assert slow["error"] == "slow_down"
        throttled = aws_error(client.get("/assignment/accounts"), "TooManyRequestsException", 429)
        assert set(throttled) == {"message"}
        assert client.get("/assignment/accounts").headers["Retry-After"] == "3600"
    finally:
        runtime.db.dispose()


def test_a_registration_outlives_the_instance_that_made_it(client: FlaskClient, runtime: Runtime) -> None:
    """Another instance (a new runtime on the same database, as after a restart) knows the client."""
    from broker.web.app import create_app

    registration = register(client)
    other = Runtime.from_settings(runtime.settings)
    try:
        started = start_device(create_app(runtime=other).test_client(), registration, other)
        assert started["deviceCode"]
    finally:
        other.db.dispose()


HOSTILE_BODIES: list[Any] = [
    None,
    [],
    "text",
    {"clientId": 1, "clientSecret": ["x"], "grantType": {"a": 1}},
    {"clientId": "x" * 10000, "clientSecret": "y", "grantType": "refresh_token", "refreshToken": "z" * 10000},
    {"clientName": "n", "clientType": "public", "redirectUris": ["http://evil.example/cb"]},
    {"clientName": "n", "clientType": "public", "grantTypes": ["password"]},
    {"clientName": "n", "clientType": "public", "scopes": "not-a-list"},
    {"clientName": "\u0000" * 129, "clientType": "public"},
    # PostgreSQL refuses NUL in text: refused before it reaches the database, on either database.
    {"clientName": "a\u0000b", "clientType": "public"},
    {"clientName": "n", "clientType": "public", "issuerUrl": "https://idp\u0000.example"},
    {"clientId": "a\u0000", "clientSecret": "b", "startUrl": "https://x.example/start"},
    {"clientId": "a", "clientSecret": "b", "grantType": "authorization_code", "code": "c", "codeVerifier": "short"},
]


def test_hostile_bodies_and_queries_get_an_aws_error_never_a_500(client: FlaskClient, browser: FlaskClient) -> None:
    for path in ("/client/register", "/device_authorization", "/token"):
        for body in HOSTILE_BODIES:
            answer = client.post(path, data=json.dumps(body), content_type="application/json")
            assert 400 <= answer.status_code < 500, (path, body, answer.text[:300])
            assert answer.headers["x-amzn-ErrorType"].endswith("Exception")
        assert client.post(path, data=b"\xff\xfe", content_type="application/json").status_code == 400
        deep = client.post(path, data="[" * 100_000, content_type="application/json")  # past Python's recursion
        assert deep.status_code == 400 and deep.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    for path, query in (
        ("/assignment/roles", {"account_id": "x" * 5000, "next_token": "\u00ff" * 3000, "max_result": "\u0663"}),
        ("/assignment/accounts", {"max_result": "99999999999999999999"}),
        ("/federation/credentials", {"role_name": "r" * 5000, "account_id": "a"}),
    ):
        answer = client.get(path, query_string=query, headers={BEARER: "t" * 5000})
        assert answer.status_code == 401 and answer.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    sign_in(browser)
    for query in ({"client_id": "x" * 5000}, {"client_id": ["a", "b"]}, {"request": "r" * 5000}, {"state": "s\u0000"}):
        assert 400 <= browser.get("/authorize", query_string=query).status_code < 500
        assert 400 <= browser.get("/authorize/resume", query_string=query).status_code < 500
    assert 400 <= browser.post("/authorize/resume", data={"request": "x" * 5000, "action": "approve"}).status_code < 500
    assert 400 <= browser.post("/device", data={"user_code": "\u0663" * 100, "action": "approve"}).status_code < 500
    assert browser.get("/device", query_string={"user_code": "a" * 5000}).status_code == 400
