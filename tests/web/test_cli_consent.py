"""The consent page of /cli/authorize, attacked: no code without the person's click on a page
that names who is signed in, the client, where the code goes, the role and the duration.

The attacks of the red-team review: a live browser session used to be enough for a GET of
/cli/authorize to send a code to any loopback port (another local user listening there got the
person's credentials), and an attacker's unsolicited assertion (login CSRF) made the next CLI
login silently get the attacker's identity.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from broker.services.cli_auth import code_flow
from broker.services.runtime import Runtime
from broker.store import models
from tests.flows.test_cli_protocol import (
    DEVELOPER,
    LOOPBACK,
    READ_ONLY,
    Clock,
    audit,
    authorize,
    client,
    clock,
    consent,
    consent_page,
    exchange,
    form_fields,
    redirected_params,
    runtime,
    signed_in,
)

__all__ = ["client", "clock", "runtime"]  # fixtures: a demo broker on SQLite and PostgreSQL

ATTACKER_PORT = "http://127.0.0.1:40404/steal"


def codes_issued(runtime: Runtime) -> int:
    with runtime.db.transaction() as session:
        found = session.scalars(
            select(models.CliAuthorization.code_hash).where(models.CliAuthorization.code_hash.is_not(None))
        )
        return len(list(found))


def refusals(runtime: Runtime) -> list[Any]:
    return [e.get("errorCode") for e in audit(runtime, "CreateAuthorizationCode")]


def test_a_live_session_gets_a_page_naming_everything_and_no_code(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    page = authorize(client, role=DEVELOPER, redirect_uri=ATTACKER_PORT, duration="1800")
    # The attack: this used to be a 303 to the listener with a code. Now it is a page, and nothing was issued.
    assert page.status_code == 200 and "Location" not in page.headers
    assert codes_issued(runtime) == 0 and audit(runtime, "CreateAuthorizationCode") == []
    text = page.text
    assert '<strong id="subject">demo-bob</strong>' in text
    assert '<strong id="identity-provider">demo</strong>' in text and "account 123456789012" in text
    assert "client <code>broker-cli</code>" in text
    assert '<code id="redirect-address">127.0.0.1:40404</code>' in text
    assert '<strong id="role-name">DemoDeveloper</strong>' in text and DEVELOPER in text
    assert '<dd id="duration-fixed">30 min</dd>' in text
    assert 'id="sign-out-form"' in text  # "not you?" has somewhere to go
    assert page.headers["Cache-Control"] == "no-store"
    # The click is what issues the code, for what the page showed.
    params = redirected_params(consent(client, page), ATTACKER_PORT)
    assert codes_issued(runtime) == 1
    granted = exchange(client, params["code"], redirect_uri=ATTACKER_PORT)
    assert granted.status_code == 200 and granted.json["RoleArn"] == DEVELOPER
    expires = dt.datetime.fromisoformat(granted.json["Expiration"].replace("Z", "+00:00"))
    assert 1700 < (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 1800
    (created,) = audit(runtime, "CreateAuthorizationCode")
    assert created["requestParameters"]["redirectUri"] == ATTACKER_PORT


def test_the_page_is_accessible_without_script(client: FlaskClient) -> None:
    signed_in(client)
    text = consent_page(client, role=None).text
    assert "<script" not in text
    assert '<button type="submit" name="action" value="approve" id="approve">' in text
    assert '<label for="duration">' in text
    # Each role radio has its label; the approve button comes after the choices in the form.
    assert text.count('type="radio" name="role_arn"') == 2 and text.count('<label for="role-') == 2
    assert text.index('id="role-list"') < text.index('id="approve"') < text.index('id="deny"')


def test_a_forged_post_without_the_pages_token_is_refused_and_audited(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    page = consent_page(client)
    fields = form_fields(page.text)
    forged = client.post(
        "/cli/authorize/resume", data={"request": fields["request"], "role_arn": DEVELOPER, "action": "approve"}
    )
    assert forged.status_code == 403 and "BadCsrf" in forged.text and "Location" not in forged.headers
    # The browser session's own CSRF token (the sign-out form's) is not the consent token either.
    session_token = client.post(
        "/cli/authorize/resume",
        data={**fields, "consent_token": form_fields(page.text, "sign-out-form")["csrf_token"], "action": "approve"},
    )
    assert session_token.status_code == 403
    denied_forged = client.post("/cli/authorize/resume", data={"request": fields["request"], "action": "deny"})
    assert denied_forged.status_code == 403
    assert codes_issued(runtime) == 0
    assert refusals(runtime) == ["BadCsrf", "BadCsrf", "BadCsrf"]
    assert audit(runtime, "CreateAuthorizationCode")[0]["userIdentity"]["userName"] == "demo-bob"
    # The person's own click still works: the forgeries did not spend the request.
    assert "code" in redirected_params(consent(client, page))


def test_the_token_of_one_request_does_not_approve_another(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    mine = consent_page(client)
    other = consent_page(client, state="state-2")  # e.g. started by another local user
    other_request = form_fields(other.text)["request"]
    swapped = consent(client, mine, request=other_request)
    assert swapped.status_code == 403 and "BadCsrf" in swapped.text
    assert codes_issued(runtime) == 0 and refusals(runtime) == ["BadCsrf"]


def test_the_token_of_one_browser_does_not_approve_in_another(client: FlaskClient, runtime: Runtime) -> None:
    from broker.web.app import create_app

    signed_in(client)
    page = consent_page(client)
    victim = signed_in(create_app(runtime=runtime).test_client(), "alice")
    stolen = consent(victim, page)
    assert stolen.status_code == 403 and codes_issued(runtime) == 0


def test_a_replayed_approval_is_refused_and_mints_nothing(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    page = consent_page(client)
    first = redirected_params(consent(client, page))
    replayed = consent(client, page)
    assert replayed.status_code == 404 and "UnknownAuthorization" in replayed.text
    cancelled_late = consent(client, page, action="deny")
    assert cancelled_late.status_code == 404
    assert codes_issued(runtime) == 1 and first["code"]
    assert refusals(runtime) == [None, "UnknownAuthorization", "UnknownAuthorization"]


def test_the_role_the_cli_asked_for_cannot_be_swapped_on_the_form(client: FlaskClient, runtime: Runtime) -> None:
    signed_in(client)
    page = consent_page(client, role=DEVELOPER)
    swapped = consent(client, page, role_arn=READ_ONLY)
    assert swapped.status_code == 400 and "InvalidRequest" in swapped.text
    assert codes_issued(runtime) == 0 and refusals(runtime) == ["InvalidRequest"]


def test_the_duration_the_cli_asked_for_is_the_one_granted(client: FlaskClient) -> None:
    signed_in(client)
    page = consent_page(client, role=DEVELOPER, duration="900")
    assert '<dd id="duration-fixed">15 min</dd>' in page.text
    code = redirected_params(consent(client, page, duration="28800"))["code"]
    granted = exchange(client, code)
    expires = dt.datetime.fromisoformat(granted.json["Expiration"].replace("Z", "+00:00"))
    assert 850 < (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 900


def test_login_csrf_shows_the_attackers_identity_and_waits_for_the_click(client: FlaskClient, runtime: Runtime) -> None:
    # The attacker's own assertion signed this browser in as them; then the person runs `broker login`.
    signed_in(client, "alice")
    page = consent_page(client, role=None)
    assert '<strong id="subject">demo-alice</strong>' in page.text
    assert '<strong id="identity-provider">demo</strong>' in page.text
    assert codes_issued(runtime) == 0
    # The person notices and cancels: the CLI is told, nothing was issued, and it is in the trail.
    cancelled = redirected_params(consent(client, page, action="deny"))
    assert cancelled["error"] == "access_denied"
    assert codes_issued(runtime) == 0 and refusals(runtime) == ["access_denied"]


def test_a_pending_request_expires_before_anyone_approves_it(
    client: FlaskClient, runtime: Runtime, clock: Clock
) -> None:
    signed_in(client)
    page = consent_page(client)
    clock.offset = code_flow.AUTHORIZATION_LIFETIME + dt.timedelta(seconds=1)
    late = consent(client, page)
    assert late.status_code == 410 and "ExpiredAuthorization" in late.text
    assert codes_issued(runtime) == 0 and refusals(runtime) == ["ExpiredAuthorization"]


def test_no_session_at_all_is_refused_not_redirected(client: FlaskClient, runtime: Runtime) -> None:
    from broker.web.app import create_app

    signed_in(client)
    page = consent_page(client)
    stranger = create_app(runtime=runtime).test_client()
    refused = consent(stranger, page)
    assert refused.status_code == 401 and "NoSession" in refused.text
    assert refusals(runtime) == ["NoSession"]
    assert audit(runtime, "CreateAuthorizationCode")[0]["userIdentity"]["type"] == "SAMLUser"


def test_loopback_is_still_the_only_place_a_code_can_go(client: FlaskClient) -> None:
    signed_in(client)
    refused = authorize(client, redirect_uri="http://evil.example/cb")
    assert refused.status_code == 400 and "InvalidRedirectUri" in refused.text
    assert LOOPBACK.startswith("http://127.0.0.1:")


def test_a_control_character_in_the_link_is_refused_on_a_page(client: FlaskClient) -> None:
    # PostgreSQL refuses NUL in text (it was a 500 there); RFC 6749 A.5 makes state printable ASCII.
    signed_in(client)
    for overrides in ({"state": "s\x00t"}, {"provider": "demo\x00"}, {"state": "tab\there"}):
        refused = authorize(client, **overrides)
        assert refused.status_code == 400 and "control character" in refused.text, overrides
