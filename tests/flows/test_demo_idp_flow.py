"""End-to-end sign-in with the bundled pysaml2 IdP: SP-initiated, role choice, credentials."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from broker.crypto.tokens import decode_session_token
from broker.demo.setup import prepare_demo, seed_demo
from broker.services.runtime import Runtime
from broker.store import models
from broker.web.app import create_app
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.browser import chromium_page
from tests.support.demo_flow import csrf_token, demo_saml_response, demo_sign_in, element_text

if TYPE_CHECKING:  # Playwright is imported by tests.support.browser, after its environment is set
    from playwright.sync_api import Request


@pytest.fixture
def demo_runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, demo=True)
    runtime = Runtime.from_settings(settings)
    prepare_demo(runtime)
    runtime = make_runtime(settings)
    seed_demo(runtime)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def app(demo_runtime: Runtime) -> Flask:
    return create_app(runtime=demo_runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_several_roles_show_the_selection_page_grouped_by_account(client: FlaskClient) -> None:
    page = demo_sign_in(client, "alice", "alice-demo")
    assert page.status_code == 200
    assert 'id="role-form"' in page.text
    for role in ("DemoAdmin", "DemoDeveloper", "DemoReadOnly"):
        assert f'value="arn:aws:iam::123456789012:role/demo/{role}"' in page.text
    assert "demo</strong> (123456789012)" in page.text  # account alias and id
    assert page.headers["Cache-Control"] == "no-store"


def test_choosing_a_role_issues_credentials_that_verify(client: FlaskClient, demo_runtime: Runtime) -> None:
    page = demo_sign_in(client, "alice", "alice-demo")
    chosen = client.post(
        "/saml/roles",
        data={
            "role_arn": "arn:aws:iam::123456789012:role/demo/DemoDeveloper",
            "duration": "7200",
            "csrf_token": csrf_token(page.text),
        },
        follow_redirects=True,
    )
    assert chosen.status_code == 200, chosen.text
    key_id = element_text(chosen.text, "access-key-id")
    token = element_text(chosen.text, "session-token")
    assert key_id.startswith("ASIA") and len(key_id) == 20
    assert len(element_text(chosen.text, "secret-access-key")) == 40
    claims = decode_session_token(token, demo_runtime.keys.token_keys, demo_runtime.settings.base_url)
    assert claims.assumed_role_arn == "arn:aws:sts::123456789012:assumed-role/DemoDeveloper/alice"
    assert claims.access_key_id == key_id
    assert claims.expires_at - claims.issued_at == 7200
    expiration = dt.datetime.fromisoformat(element_text(chosen.text, "expiration").replace("Z", "+00:00"))
    assert expiration == claims.expiration
    assert "export AWS_SESSION_TOKEN=" in chosen.text and "credential_process" in chosen.text


def test_single_role_goes_straight_to_credentials(client: FlaskClient) -> None:
    page = demo_sign_in(client, "bob", "bob-demo")
    # bob is only in "developers": DemoDeveloper and DemoReadOnly -> still a choice
    assert 'id="role-form"' in page.text
    assert "DemoAdmin" not in page.text


def test_no_role_page_names_provider_and_attributes(client: FlaskClient) -> None:
    page = demo_sign_in(client, "carol", "carol-demo")
    assert page.status_code == 403
    assert "No role is available to you" in page.text
    assert "arn:aws:iam::123456789012:saml-provider/demo" in page.text
    assert "attribute-def:uid</code>" in page.text  # pysaml2 names basic attributes urn:mace:...
    assert "StringEquals" not in page.text  # no policy internals


def test_role_outside_the_offer_is_refused(client: FlaskClient) -> None:
    page = demo_sign_in(client, "bob", "bob-demo")
    refused = client.post(
        "/saml/roles",
        data={"role_arn": "arn:aws:iam::123456789012:role/demo/DemoAdmin", "csrf_token": csrf_token(page.text)},
        follow_redirects=True,
    )
    assert refused.status_code == 403
    assert element_text(refused.text, "error-code") == "RoleNotPermitted"


def test_role_choice_needs_the_csrf_token(client: FlaskClient) -> None:
    demo_sign_in(client, "alice", "alice-demo")
    refused = client.post(
        "/saml/roles",
        data={"role_arn": "arn:aws:iam::123456789012:role/demo/DemoAdmin", "csrf_token": "forged"},
        follow_redirects=True,
    )
    assert refused.status_code == 403
    assert element_text(refused.text, "error-code") == "BadCsrf"


def test_duration_above_the_chosen_role_maximum_is_capped(client: FlaskClient, demo_runtime: Runtime) -> None:
    page = demo_sign_in(client, "alice", "alice-demo")
    chosen = client.post(
        "/saml/roles",
        data={
            "role_arn": "arn:aws:iam::123456789012:role/demo/DemoReadOnly",  # MaxSessionDuration 3600
            "duration": "43200",
            "csrf_token": csrf_token(page.text),
        },
        follow_redirects=True,
    )
    assert chosen.status_code == 200
    claims = decode_session_token(
        element_text(chosen.text, "session-token"), demo_runtime.keys.token_keys, demo_runtime.settings.base_url
    )
    assert claims.expires_at - claims.issued_at == 3600


def test_refused_role_choices_are_audited(client: FlaskClient, demo_runtime: Runtime) -> None:
    page = demo_sign_in(client, "bob", "bob-demo")
    client.post(
        "/saml/roles",
        data={"role_arn": "arn:aws:iam::123456789012:role/demo/DemoAdmin", "csrf_token": csrf_token(page.text)},
        follow_redirects=True,
    )
    client.post("/saml/roles", data={"role_arn": "x", "csrf_token": "forged"}, follow_redirects=True)
    with demo_runtime.db.transaction() as session:
        refused = [
            (e.event_name, e.error_code, e.record["userIdentity"].get("userName"))
            for e in session.query(models.AuditEvent).filter(models.AuditEvent.error_code.isnot(None))
        ]
    assert ("AssumeRoleWithSAML", "RoleNotPermitted", "demo-bob") in refused
    assert ("AssumeRoleWithSAML", "BadCsrf", "demo-bob") in refused


def test_a_response_is_accepted_once(client: FlaskClient) -> None:
    saml_response, _ = demo_saml_response(client, "alice", "alice-demo")
    first = client.post("/saml/acs", data={"SAMLResponse": saml_response}, follow_redirects=True)
    assert first.status_code == 200
    second = client.post("/saml/acs", data={"SAMLResponse": saml_response}, follow_redirects=True)
    assert second.status_code == 403
    # The request was consumed by the first use; either guard refuses the second.
    assert element_text(second.text, "error-code") == "Replay"


def test_response_must_return_to_the_browser_that_started(app: Flask) -> None:
    starter = app.test_client()
    saml_response, _ = demo_saml_response(starter, "alice", "alice-demo")
    other_browser = app.test_client()
    refused = other_browser.post("/saml/acs", data={"SAMLResponse": saml_response}, follow_redirects=True)
    assert refused.status_code == 403
    assert element_text(refused.text, "error-code") == "BrowserMismatch"


def test_every_outcome_is_audited(client: FlaskClient, demo_runtime: Runtime) -> None:
    page = demo_sign_in(client, "alice", "alice-demo")
    client.post(
        "/saml/roles",
        data={"role_arn": "arn:aws:iam::123456789012:role/demo/DemoAdmin", "csrf_token": csrf_token(page.text)},
        follow_redirects=True,
    )
    client.post("/saml/acs", data={"SAMLResponse": "bm90IHhtbA=="}, follow_redirects=True)
    with demo_runtime.db.transaction() as session:
        events = [
            (e.event_name, e.error_code) for e in session.query(models.AuditEvent).order_by(models.AuditEvent.seq)
        ]
        records = [e.record for e in session.query(models.AuditEvent)]
    assert ("ConsoleLogin", None) in events
    assert ("AssumeRoleWithSAML", None) in events
    assert ("ConsoleLogin", "MalformedMessage") in events
    text = repr(records)
    assert "SAMLResponse" not in text and "secretAccessKey" not in text.replace("SecretAccessKey", "")


def test_relay_state_off_site_is_refused_at_login(client: FlaskClient) -> None:
    refused = client.get("/saml/login?provider=demo&next=https://evil.example/")
    assert refused.status_code == 400
    assert element_text(refused.text, "error-code") == "BadRelayState"
    refused = client.get("/saml/login?provider=demo&next=//evil.example/")
    assert refused.status_code == 400


def test_metadata_and_jwks(client: FlaskClient, demo_runtime: Runtime) -> None:
    metadata = client.get("/saml/metadata")
    assert metadata.status_code == 200
    assert f'entityID="{demo_runtime.settings.sp_entity_id}"' in metadata.text
    assert 'use="signing"' in metadata.text and 'use="encryption"' in metadata.text
    assert demo_runtime.settings.acs_url in metadata.text
    jwks = client.get("/.well-known/jwks.json").get_json()
    kids = {k["kid"] for k in jwks["keys"]}
    assert demo_runtime.keys.token_keys.current.kid in kids
    assert all(k["alg"] == "ES256" and "d" not in k for k in jwks["keys"])


def _sign_out(client: FlaskClient, token: str) -> TestResponse:
    return client.post("/saml/logout", data={"csrf_token": token})


def test_signing_out_ends_the_web_session(client: FlaskClient, demo_runtime: Runtime) -> None:
    page = demo_sign_in(client, "alice", "alice-demo")
    token = csrf_token(page.text)
    assert 'id="sign-out-form"' in page.text
    # Another site cannot sign the person out: the form's token is required.
    assert client.post("/saml/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/saml/roles").status_code == 200  # still signed in

    signed_out = _sign_out(client, token)
    assert signed_out.status_code == 200
    assert element_text(signed_out.text, "signed-out") == "You are signed out"
    assert "broker_session=;" in signed_out.headers["Set-Cookie"]  # the cookie is cleared
    assert signed_out.headers["Cache-Control"] == "no-store"
    # The role page is gone and the old form cannot issue credentials any more.
    assert client.get("/saml/roles").status_code == 303
    role = "arn:aws:iam::123456789012:role/demo/DemoDeveloper"
    assert (
        client.post("/saml/roles", data={"role_arn": role, "csrf_token": token}, follow_redirects=True).status_code
        == 401
    )
    # Signing out again is harmless.
    assert _sign_out(client, token).status_code == 200
    with demo_runtime.db.transaction() as session:
        events = [
            e.record for e in session.query(models.AuditEvent).filter(models.AuditEvent.event_name == "ConsoleLogout")
        ]
        assert session.query(models.WebSession).count() == 0
    assert len(events) == 1
    assert events[0]["eventSource"] == "signin.amazonaws.com"
    assert events[0]["eventType"] == "AwsConsoleSignIn"
    assert "errorCode" not in events[0]
    assert events[0]["userIdentity"]["type"] == "SAMLUser"
    assert events[0]["additionalEventData"]["cliSessionsEnded"] == 0
    assert events[0]["recipientAccountId"] == "123456789012"
    cleared = signed_out.headers.getlist("Set-Cookie")
    assert any(c.startswith("broker_binding=;") for c in cleared)
    assert all("HttpOnly" in c and "Path=/" in c for c in cleared)


def test_the_credentials_and_no_role_pages_offer_sign_out(client: FlaskClient) -> None:
    page = demo_sign_in(client, "alice", "alice-demo")
    token = csrf_token(page.text)
    chosen = client.post(
        "/saml/roles",
        data={"role_arn": "arn:aws:iam::123456789012:role/demo/DemoReadOnly", "csrf_token": token},
        follow_redirects=True,
    )
    assert chosen.status_code == 200
    assert f'name="csrf_token" value="{token}"' in chosen.text and 'id="sign-out"' in chosen.text
    assert _sign_out(client, token).status_code == 200

    no_roles = demo_sign_in(client, "carol", "carol-demo")
    assert no_roles.status_code == 403
    assert 'id="sign-out-form"' in no_roles.text
    assert _sign_out(client, csrf_token(no_roles.text)).status_code == 200


@pytest.mark.browser
@pytest.mark.parametrize("start", ["/demo-idp/initiate", "/saml/login?provider=demo"])
def test_the_demo_idp_signs_in_through_chromium_posting_from_the_brokers_own_page(
    tmp_path: Path, keys_dir: Path, start: str
) -> None:
    """The demo IdP's post page is the broker's own, served with ``Referrer-Policy: no-referrer``:
    Chromium posts with ``Origin: null`` and ``Sec-Fetch-Site: same-origin``, which the ACS takes
    as the broker's own origin (the demo IdP's), IdP-initiated included."""
    port = free_port()
    settings = make_settings(
        tmp_path, keys_dir, f"sqlite:///{tmp_path / 'demo.db'}", f"http://127.0.0.1:{port}", demo=True
    )
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    with LiveBroker(runtime, port) as live, chromium_page() as page:
        posted: list[tuple[str | None, str | None]] = []

        def note(request: Request) -> None:
            if request.method == "POST" and request.url == f"{live.url}/saml/acs":
                headers = request.all_headers()
                posted.append((headers.get("origin"), headers.get("sec-fetch-site")))

        page.on("request", note)
        page.goto(live.url + start)
        page.fill("#username", "alice")
        page.fill("#password", "alice-demo")
        page.click("button[type=submit]")
        page.wait_for_selector("#role-form")
    assert posted == [("null", "same-origin")]


def test_another_persons_sign_in_in_the_same_browser_ends_the_earlier_session(
    client: FlaskClient, demo_runtime: Runtime
) -> None:
    # On a shared browser, the next person's sign-in (and later sign-out) must not leave the
    # previous person signed in, even to someone who kept a copy of their cookie.
    assert demo_sign_in(client, "alice", "alice-demo").status_code == 200
    alices = client.get_cookie("broker_session")
    assert alices is not None
    assert demo_sign_in(client, "alice", "alice-demo").status_code == 200  # the same person again
    again = client.get_cookie("broker_session")
    assert again is not None and again.value != alices.value
    kept = client.application.test_client()
    kept.set_cookie("broker_session", alices.value)
    assert kept.get("/saml/roles").status_code == 200  # their earlier session stays theirs
    assert demo_sign_in(client, "bob", "bob-demo").status_code == 200
    # Bob's sign-in ends the session the browser held: alice's latest.
    stale = client.application.test_client()
    stale.set_cookie("broker_session", again.value)
    assert stale.get("/saml/roles").status_code == 303
    with demo_runtime.db.transaction() as session:
        ended = [
            e.record for e in session.query(models.AuditEvent).filter(models.AuditEvent.event_name == "ConsoleLogout")
        ]
    assert len(ended) == 1
    assert ended[0]["additionalEventData"]["endedBy"] == "another person's sign-in in the same browser"


def _https_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "broker.example.test"})
    return client


def test_over_https_the_cookies_carry_prefixes_that_a_sibling_subdomain_cannot_set(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    # A page on another subdomain may set cookies for the parent domain; `__Host-` cookies
    # (Secure, Path=/, no Domain) are ones it can neither set nor shadow.
    settings = make_settings(tmp_path, keys_dir, database_url, "https://broker.example.test", demo=True)
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    try:
        app = create_app(runtime=runtime)
        client, tossed = _https_client(app), _https_client(app)
        started = client.get("/saml/login?provider=demo")
        binding = started.headers["Set-Cookie"]
        assert binding.startswith("__Host-broker_binding=")
        page = demo_sign_in(client, "alice", "alice-demo")
        assert page.status_code == 200 and 'id="role-form"' in page.text
        session_cookie = client.get_cookie("__Host-broker_session")
        assert session_cookie is not None and client.get_cookie("broker_session") is None
        assert session_cookie.secure and session_cookie.path == "/" and session_cookie.origin_only  # no Domain
        assert session_cookie.http_only and session_cookie.same_site == "None"

        # The bare name is not read: a cookie tossed from a sibling subdomain goes unheard.
        tossed.set_cookie("broker_session", session_cookie.value)
        assert tossed.get("/saml/roles").status_code == 303

        chosen = client.post(
            "/saml/roles",
            data={"role_arn": "arn:aws:iam::123456789012:role/demo/DemoDeveloper", "csrf_token": csrf_token(page.text)},
        )
        handoff = chosen.headers.getlist("Set-Cookie")
        assert handoff and handoff[0].startswith("__Secure-broker_credentials0=")  # path-scoped: __Secure-
        assert all("Secure" in c and "Path=/saml/credentials" in c for c in handoff)
        shown = client.get(chosen.headers["Location"])
        assert shown.status_code == 200 and element_text(shown.text, "access-key-id").startswith("ASIA")

        cleared = _sign_out(client, csrf_token(page.text)).headers.getlist("Set-Cookie")
        for name in ("__Host-broker_session=;", "__Host-broker_binding=;"):
            deletion = next(c for c in cleared if c.startswith(name))
            assert "Secure" in deletion and "Path=/" in deletion  # else the browser keeps a prefixed cookie
        assert client.get("/saml/roles").status_code == 303
    finally:
        runtime.db.dispose()
