"""The broker side of the CLI sign-in, attacked and exercised through the Flask test client.

Sign-in is real (the bundled demo IdP, SAML through /saml/acs); the CLI is played by hand so that
every refusal can be provoked: non-loopback redirect URIs, wrong PKCE verifiers, reused and
expired codes, too-fast device polling, missing CSRF tokens. A code only ever comes from the POST
of the consent page (tests/web/test_cli_consent.py attacks that page).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.demo.setup import prepare_demo, seed_demo
from broker.services.cli_auth.pkce import s256_challenge
from broker.services.cli_auth.user_codes import USER_CODE_ALPHABET
from broker.services.runtime import Runtime
from broker.store import models
from tests.support.brokers import make_runtime, make_settings
from tests.support.demo_flow import csrf_token, demo_sign_in

ACCOUNT = "123456789012"
DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/demo/DemoDeveloper"
READ_ONLY = f"arn:aws:iam::{ACCOUNT}:role/demo/DemoReadOnly"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/demo/DemoAdmin"
LOOPBACK = "http://127.0.0.1:53682/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class Clock:
    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _demo(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str, clock: Clock) -> Runtime:
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, demo=True)
    runtime = Runtime.from_settings(settings)
    prepare_demo(runtime)
    runtime.db.dispose()
    runtime = make_runtime(settings)
    seed_demo(runtime)
    runtime.clock = clock
    return runtime


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str, clock: Clock) -> Iterator[Runtime]:
    """Every test here runs on SQLite and on PostgreSQL: one-time use rests on conditional updates."""
    rt = _demo(tmp_path, keys_dir, database_url, base_url, clock)
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    from broker.web.app import create_app

    return create_app(runtime=runtime).test_client()


def authorize(client: FlaskClient, **overrides: str | None) -> Any:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "broker-cli",
        "redirect_uri": LOOPBACK,
        "code_challenge": s256_challenge(VERIFIER),
        "code_challenge_method": "S256",
        "state": "state-1",
        "role": DEVELOPER,
    }
    query.update(overrides)
    return client.get("/cli/authorize", query_string={k: v for k, v in query.items() if v is not None})


def redirected_params(response: Any, to: str = LOOPBACK) -> dict[str, str]:
    assert response.status_code == 303, response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(to + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def form_fields(html: str, form_id: str = "consent-form") -> dict[str, str]:
    """The hidden fields and checked radios of one form, as a browser would submit them."""
    start = html.rindex("<form", 0, html.index(f'id="{form_id}"'))
    form = html[start : html.index("</form>", start)]
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value and ('type="hidden"' in tag or " checked" in tag):
            fields[unescape(name.group(1))] = unescape(value.group(1))
    return fields


def consent_page(client: FlaskClient, **overrides: str | None) -> Any:
    page = authorize(client, **overrides)
    assert page.status_code == 200 and 'id="consent-form"' in page.text, page.text[:500]
    return page


def consent(client: FlaskClient, page: Any, **fields: str) -> Any:
    """Press a button of the consent page (approve unless ``action`` says otherwise)."""
    return client.post("/cli/authorize/resume", data={**form_fields(page.text), "action": "approve", **fields})


def new_code(client: FlaskClient, role: str = DEVELOPER, redirect_uri: str = LOOPBACK) -> str:
    page = consent_page(client, role=role, redirect_uri=redirect_uri)
    params = redirected_params(consent(client, page), redirect_uri)
    assert params["state"] == "state-1"
    return params["code"]


def exchange(client: FlaskClient, code: str, verifier: str = VERIFIER, redirect_uri: str = LOOPBACK) -> Any:
    return client.post(
        "/cli/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "client_id": "broker-cli",
        },
    )


def token(client: FlaskClient, **form: str) -> Any:
    return client.post("/cli/token", data={"client_id": "broker-cli", **form})


def signed_in(client: FlaskClient, user: str = "bob") -> FlaskClient:
    page = demo_sign_in(client, user, f"{user}-demo")
    assert page.status_code == 200, page.text[:300]
    return client


def audit(runtime: Runtime, name: str) -> list[dict[str, Any]]:
    with runtime.db.transaction() as session:
        rows = session.scalars(select(models.AuditEvent).where(models.AuditEvent.event_name == name))
        return [row.record for row in rows]


def test_the_pkce_s256_example_of_rfc_7636() -> None:
    assert s256_challenge(VERIFIER) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


OFF_LOOPBACK = [
    "https://127.0.0.1:8000/callback",
    "http://evil.example/callback",
    "http://127.0.0.1.evil.example/callback",
    "http://evil.example@127.0.0.1/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:8000/callback#fragment",
    "http://[::2]:8000/callback",
    "http://0.0.0.0:8000/callback",
    "javascript:alert(1)",
    "//127.0.0.1/callback",
    "",
    None,
]


def test_a_redirect_uri_off_the_loopback_is_refused_on_a_page(client: FlaskClient) -> None:
    signed_in(client)  # even with a session that would otherwise get a code at once
    for redirect_uri in OFF_LOOPBACK:
        refused = authorize(client, redirect_uri=redirect_uri)
        assert refused.status_code == 400, redirect_uri
        assert "Location" not in refused.headers
        assert "InvalidRedirectUri" in refused.text


def test_loopback_redirect_uris_on_any_port_are_accepted(client: FlaskClient) -> None:
    signed_in(client)
    for uri, shown in (
        ("http://127.0.0.1:1/cb", "127.0.0.1:1"),
        ("http://[::1]:65535/x/y", "::1:65535"),
        ("http://localhost:8400/", "localhost:8400"),
        ("http://127.0.0.1/cb", "127.0.0.1:80"),
    ):
        page = consent_page(client, redirect_uri=uri)
        assert f'<code id="redirect-address">{shown}</code>' in page.text
        params = redirected_params(consent(client, page), uri)
        assert params["code"]


def test_unknown_clients_see_a_page_and_later_errors_go_back_to_the_cli(client: FlaskClient) -> None:
    unknown = authorize(client, client_id="someone-else")
    assert unknown.status_code == 400 and "UnknownClient" in unknown.text and "Location" not in unknown.headers
    cases = {
        "state": (None, "invalid_request"),
        "code_challenge_method": ("plain", "invalid_request"),
        "code_challenge": ("short", "invalid_request"),
        "response_type": ("token", "unsupported_response_type"),
        "role": ("not-an-arn", "invalid_request"),
        "duration": ("60", "invalid_request"),
    }
    for name, (value, error) in cases.items():
        params = redirected_params(authorize(client, **{name: value}))
        assert params["error"] == error, (name, params)
        assert ("state" in params) == (name != "state")
    twice = client.get(
        "/cli/authorize?response_type=code&client_id=broker-cli&state=a&state=b&redirect_uri=" + LOOPBACK
    )
    assert redirected_params(twice)["error"] == "invalid_request"


def test_without_a_session_authorize_goes_through_saml_sign_in_and_comes_back(client: FlaskClient) -> None:
    started = authorize(client, role=None)
    assert started.status_code == 303
    login = urlsplit(started.headers["Location"])
    assert login.path == "/saml/login"
    next_path = parse_qs(login.query)["next"][0]
    assert next_path.startswith("/cli/authorize/resume?request=")
    # Signed in (any way), the resume link shows the consent page with bob's two roles to pick from.
    signed_in(client)
    page = client.get(next_path)
    assert page.status_code == 200 and 'id="consent-form"' in page.text
    assert DEVELOPER in page.text and READ_ONLY in page.text
    handle = parse_qs(urlsplit(next_path).query)["request"][0]
    missing_csrf = client.post(
        "/cli/authorize/resume", data={"request": handle, "role_arn": READ_ONLY, "action": "approve"}
    )
    assert missing_csrf.status_code == 403 and "BadCsrf" in missing_csrf.text
    chosen = consent(client, page, role_arn=READ_ONLY, duration="43200")
    params = redirected_params(chosen)
    assert set(params) == {"code", "state"}
    granted = exchange(client, params["code"])
    assert granted.status_code == 200 and granted.json["RoleArn"] == READ_ONLY
    # The page offers up to the longest role's 12 h; DemoReadOnly allows 1 h, so the choice is capped.
    expires = dt.datetime.fromisoformat(granted.json["Expiration"].replace("Z", "+00:00"))
    assert 3500 < (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 3600
    again = client.get(next_path)  # the request handle is spent
    assert again.status_code == 404 and "UnknownAuthorization" in again.text


def test_a_code_is_exchanged_once_with_the_right_verifier(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    code = new_code(client)
    wrong = exchange(client, code, verifier="x" * 43)
    assert wrong.status_code == 400 and wrong.json["error"] == "invalid_grant"
    assert "code_verifier" in wrong.json["error_description"]
    # The failed attempt spent the code: the right verifier cannot use it afterwards.
    assert exchange(client, code).json["error"] == "invalid_grant"

    code = new_code(client)
    granted = exchange(client, code)
    assert granted.status_code == 200, granted.json
    body = granted.json
    assert body["AccessKeyId"].startswith("ASIA") and body["Version"] == 1
    assert body["RoleArn"] == DEVELOPER and body["refresh_token"]
    assert granted.headers["Cache-Control"] == "no-store"
    reused = exchange(client, code)
    assert reused.status_code == 400 and reused.json["error"] == "invalid_grant"
    # RFC 6749 4.1.2: the replay revokes the session the first exchange opened.
    refreshed = token(client, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.json["error"] == "invalid_grant"

    events = audit(runtime, "CreateToken")
    assert [e.get("errorCode") for e in events] == ["invalid_grant", "invalid_grant", None, "invalid_grant"]
    assert "session(s) revoked" in events[-1]["errorMessage"]
    assert all(e["eventSource"] == "sso-oauth.amazonaws.com" for e in events)
    assert all(VERIFIER not in str(e) and code not in str(e) for e in events)
    assert [e.get("errorCode") for e in audit(runtime, "CreateAuthorizationCode")] == [None, None]
    assert events[2]["additionalEventData"]["authorizationId"]


def test_expired_codes_and_other_redirect_uris_are_refused(client: FlaskClient, clock: Clock) -> None:
    signed_in(client)
    code = new_code(client)
    # The clock only moves forward here: the rate limiter's buckets do not expect time to run back.
    clock.offset = dt.timedelta(seconds=61)
    expired = exchange(client, code)
    assert expired.json["error"] == "invalid_grant" and "expired" in expired.json["error_description"]
    other = exchange(client, new_code(client), redirect_uri="http://127.0.0.1:1/other")
    assert other.json["error"] == "invalid_grant" and "redirect_uri" in other.json["error_description"]
    assert exchange(client, "no-such-code").json["error"] == "invalid_grant"
    malformed = exchange(client, "whatever", verifier="short")
    assert malformed.json["error"] == "invalid_request"


def test_a_role_the_sign_in_does_not_offer_goes_back_as_access_denied(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    params = redirected_params(authorize(client, role=ADMIN))
    assert params["error"] == "access_denied" and params["state"] == "state-1"
    too_long = redirected_params(authorize(client, role=READ_ONLY, duration="7200"))
    assert too_long["error"] == "invalid_request" and "MaxSessionDuration" in too_long["error_description"]
    refused = audit(runtime, "CreateAuthorizationCode")
    assert [e["errorCode"] for e in refused] == ["access_denied", "invalid_request"]


def test_the_refresh_handle_issues_any_offered_role_until_revoked(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    refresh_token = exchange(client, new_code(client)).json["refresh_token"]
    other = token(client, grant_type="refresh_token", refresh_token=refresh_token, role=READ_ONLY, duration="900")
    assert other.status_code == 200 and other.json["RoleArn"] == READ_ONLY and "refresh_token" not in other.json
    expires = dt.datetime.fromisoformat(other.json["Expiration"].replace("Z", "+00:00"))
    assert 850 < (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 900
    default = token(client, grant_type="refresh_token", refresh_token=refresh_token)
    assert default.json["RoleArn"] == DEVELOPER
    refused = token(client, grant_type="refresh_token", refresh_token=refresh_token, role=ADMIN)
    assert refused.status_code == 400 and refused.json["error"] == "invalid_scope"

    session = client.get("/cli/session", headers={"Authorization": f"Bearer {refresh_token}"})
    assert session.status_code == 200
    assert {r["RoleArn"] for r in session.json["Roles"]} == {DEVELOPER, READ_ONLY}
    assert client.get("/cli/session").status_code == 401

    assert client.post("/cli/revoke", data={"token": refresh_token, "client_id": "broker-cli"}).status_code == 200
    assert client.post("/cli/revoke", data={"token": "unknown", "client_id": "broker-cli"}).status_code == 200
    gone = token(client, grant_type="refresh_token", refresh_token=refresh_token)
    assert gone.json["error"] == "invalid_grant"
    assert client.get("/cli/session", headers={"Authorization": f"Bearer {refresh_token}"}).status_code == 401
    assert len(audit(runtime, "RevokeToken")) == 1


def test_the_refresh_handle_ends_with_the_web_session(client: FlaskClient, clock: Clock) -> None:
    signed_in(client)
    refresh_token = exchange(client, new_code(client)).json["refresh_token"]
    clock.offset = dt.timedelta(hours=1, seconds=1)
    ended = token(client, grant_type="refresh_token", refresh_token=refresh_token)
    assert ended.json["error"] == "invalid_grant"


def test_the_token_endpoint_speaks_rfc_6749_errors(client: FlaskClient) -> None:
    assert token(client).json["error"] == "invalid_request"
    assert token(client, grant_type="password").json["error"] == "unsupported_grant_type"
    stranger = client.post("/cli/token", data={"grant_type": "refresh_token", "client_id": "x", "refresh_token": "r"})
    assert stranger.status_code == 401 and stranger.json["error"] == "invalid_client"
    twice = client.post("/cli/token", data={"grant_type": ["authorization_code", "refresh_token"]})
    assert twice.json["error"] == "invalid_request"
    bad_duration = token(client, grant_type="refresh_token", refresh_token="r", duration="12")
    assert bad_duration.json["error"] == "invalid_request"


# --- device authorization -------------------------------------------------------------------------


def start_device(client: FlaskClient, **form: str) -> dict[str, Any]:
    started = client.post("/cli/device", data={"client_id": "broker-cli", **form})
    assert started.status_code == 200, started.text
    return started.json  # type: ignore[no-any-return]


def poll(client: FlaskClient, device_code: str) -> Any:
    return token(client, grant_type=DEVICE_GRANT, device_code=device_code)


def test_device_authorization_pending_slow_down_approve_once(
    client: FlaskClient, runtime: Runtime, clock: Clock
) -> None:
    start = start_device(client, role=READ_ONLY)
    assert re.fullmatch(rf"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}", start["user_code"])
    assert start["verification_uri"] == f"{runtime.settings.base_url}/cli/device/verify"
    assert start["verification_uri_complete"].endswith(f"?user_code={start['user_code']}")
    assert start["expires_in"] == 600 and start["interval"] == 5

    assert poll(client, start["device_code"]).json["error"] == "authorization_pending"
    too_fast = poll(client, start["device_code"])
    assert too_fast.json["error"] == "slow_down"
    with runtime.db.transaction() as session:
        assert session.scalars(select(models.DeviceAuthorization.interval_seconds)).one() == 10
    clock.offset = dt.timedelta(seconds=11)
    assert poll(client, start["device_code"]).json["error"] == "authorization_pending"

    # The person: the verification page asks them to sign in first, then for the code.
    unsigned = client.get("/cli/device/verify")
    assert unsigned.status_code == 303 and "/saml/login" in unsigned.headers["Location"]
    signed_in(client)
    page = client.get("/cli/device/verify")
    assert page.status_code == 200 and 'id="user-code"' in page.text
    csrf = csrf_token(page.text)
    forged = client.post("/cli/device/verify", data={"user_code": start["user_code"], "action": "lookup"})
    assert forged.status_code == 403
    wrong = client.post("/cli/device/verify", data={"user_code": "BCDF-GHJK", "action": "lookup", "csrf_token": csrf})
    assert wrong.status_code == 404 and "not valid or has expired" in wrong.text
    typed = start["user_code"].lower().replace("-", " ")
    confirm = client.post("/cli/device/verify", data={"user_code": typed, "action": "lookup", "csrf_token": csrf})
    assert confirm.status_code == 200 and start["user_code"] in confirm.text
    assert f'value="{READ_ONLY}" checked' in confirm.text  # the role the device asked for
    no_csrf = client.post(
        "/cli/device/verify", data={"user_code": start["user_code"], "action": "approve", "role_arn": READ_ONLY}
    )
    assert no_csrf.status_code == 403
    not_offered = client.post(
        "/cli/device/verify",
        data={"user_code": start["user_code"], "action": "approve", "role_arn": ADMIN, "csrf_token": csrf},
    )
    assert not_offered.status_code == 403
    approved = client.post(
        "/cli/device/verify",
        data={"user_code": start["user_code"], "action": "approve", "role_arn": READ_ONLY, "csrf_token": csrf},
    )
    assert approved.status_code == 200 and "Device approved" in approved.text

    clock.offset = dt.timedelta(seconds=30)
    granted = poll(client, start["device_code"])
    assert granted.status_code == 200 and granted.json["RoleArn"] == READ_ONLY and granted.json["refresh_token"]
    assert poll(client, start["device_code"]).json["error"] == "invalid_grant"
    approvals = audit(runtime, "ApproveDeviceAuthorization")
    assert [e.get("errorCode") for e in approvals] == ["BadCsrf", "RoleNotPermitted", None]
    assert approvals[-1]["requestParameters"]["roleArn"] == READ_ONLY
    # The wrong code typed above is audited with its precise reason; the code itself is not recorded.
    forged_lookup, guess = audit(runtime, "VerifyUserCode")
    assert forged_lookup["errorCode"] == "BadCsrf"
    assert guess["errorCode"] == "UnknownUserCode" and "BCDF-GHJK" not in json.dumps(guess)
    assert [e.get("errorCode") for e in audit(runtime, "CreateToken")] == [None]


def test_device_authorization_denied_and_expired(client: FlaskClient, clock: Clock, runtime: Runtime) -> None:
    signed_in(client)
    denied = start_device(client)
    page = client.get(f"/cli/device/verify?user_code={denied['user_code']}")
    assert page.status_code == 200 and "Approve a device?" in page.text
    decided = client.post(
        "/cli/device/verify",
        data={"user_code": denied["user_code"], "action": "deny", "csrf_token": csrf_token(page.text)},
    )
    assert decided.status_code == 200 and "Device denied" in decided.text
    assert poll(client, denied["device_code"]).json["error"] == "access_denied"
    assert len(audit(runtime, "DenyDeviceAuthorization")) == 1

    late = start_device(client)
    clock.offset = dt.timedelta(minutes=10, seconds=1)
    assert poll(client, late["device_code"]).json["error"] == "expired_token"
    gone = client.get(f"/cli/device/verify?user_code={late['user_code']}")
    assert gone.status_code == 404
    assert poll(client, "no-such-device-code").json["error"] == "invalid_grant"
    stranger = client.post("/cli/device", data={"client_id": "other"})
    assert stranger.status_code == 401 and stranger.json["error"] == "invalid_client"


def test_several_providers_get_a_chooser_and_a_named_one_goes_straight_there(
    client: FlaskClient, runtime: Runtime
) -> None:
    from broker.services.iam import providers, roles
    from tests.support.metadata import idp_metadata_xml

    with runtime.db.transaction() as session:
        providers.create_saml_provider(
            session, ACCOUNT, "okta", idp_metadata_xml("https://okta.example/app"), None, runtime.now()
        )
        # A provider is offered only if some role trusts it.
        trust = {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"},
                    "Action": "sts:AssumeRoleWithSAML",
                }
            ]
        }
        roles.create_role(
            session,
            ACCOUNT,
            name="OktaUsers",
            trust_policy=json.dumps({"Version": "2012-10-17", **trust}),
            path=None,
            description=None,
            max_session_duration=None,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )
    chooser = authorize(client, role=None)
    assert chooser.status_code == 200
    assert "provider=123456789012/demo" in chooser.text and "provider=123456789012/okta" in chooser.text
    assert "next=/cli/authorize/resume" in chooser.text.replace("%2F", "/")
    named = authorize(client, provider="demo")
    assert named.status_code == 303
    assert named.headers["Location"].startswith("/saml/login?provider=demo&next=")


def test_signing_out_in_the_browser_ends_the_cli_sessions_started_from_it(
    client: FlaskClient, runtime: Runtime
) -> None:
    page = demo_sign_in(client, "bob", "bob-demo")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    refresh_token = exchange(client, new_code(client)).json["refresh_token"]
    assert token(client, grant_type="refresh_token", refresh_token=refresh_token).status_code == 200
    assert client.post("/saml/logout", data={"csrf_token": csrf.group(1)}).status_code == 200
    ended = token(client, grant_type="refresh_token", refresh_token=refresh_token)
    assert ended.json["error"] == "invalid_grant"
    (logout,) = audit(runtime, "ConsoleLogout")
    assert logout["additionalEventData"]["cliSessionsEnded"] == 1
