"""`broker sessions list|revoke` against SSO sessions opened through the real device flow."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.services.cli_auth.errors import OAuthError
from broker.services.cli_auth.sessions import live_cli_session
from broker.services.federation import token_hash
from broker.services.iam import tagging
from broker.services.orgs import structure
from broker.services.runtime import Runtime
from broker.services.sso.lifetimes import SESSION_DURATION_TAG
from broker.store import cli_auth as cli_store
from broker.store import models
from broker.store.cli_auth import CliSessionRecord
from tests.services.audit.support import run_cli
from tests.web import test_sso_api as sso
from tests.web.test_sso_api import ACCOUNT, BEARER, audit, aws_error, call, device_tokens

# The SSO API tests' fixtures: a demo broker with its clock, the tool's client, the person's browser.
runtime = sso.runtime
clock = sso.clock
client = sso.client
browser = sso.browser

DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/demo/DemoDeveloper"


def listed(runtime: Runtime, *criteria: str, kind: str = "sso") -> list[dict[str, Any]]:
    # The device flow signs a browser in too: its web session is listed with --kind web.
    result = run_cli(runtime, "sessions", "list", "--json", "--kind", kind, *criteria)
    assert result.exit_code == 0, result.output
    sessions: list[dict[str, Any]] = json.loads(result.output)["Sessions"]
    return sessions


def refresh(client: FlaskClient, registration: dict[str, Any], tokens: dict[str, Any]) -> Any:
    body = {
        "clientId": registration["clientId"],
        "clientSecret": registration["clientSecret"],
        "grantType": "refresh_token",
        "refreshToken": tokens["refreshToken"],
    }
    return call(client, "/token", body)


def test_list_by_person_role_and_session(client: FlaskClient, browser: FlaskClient, runtime: Runtime) -> None:
    device_tokens(client, browser, runtime, "bob")
    (held,) = listed(runtime)
    assert held["Kind"] == "sso" and held["Subject"] == "demo-bob"
    assert DEVELOPER in held["RoleArns"]
    assert held["ExpiresAt"] > held["CreatedAt"]
    assert listed(runtime, "--person", "demo-bob") == [held]
    assert listed(runtime, "--person", "mallory") == []
    assert listed(runtime, "--role", DEVELOPER) == [held]
    assert listed(runtime, "--role", f"arn:aws:iam::{ACCOUNT}:role/Nobody") == []
    assert listed(runtime, "--session", held["SessionId"]) == [held]
    table = run_cli(runtime, "sessions", "list")
    assert held["SessionId"] in table.output and "demo-bob" in table.output


def test_revoke_takes_effect_at_the_next_request(client: FlaskClient, browser: FlaskClient, runtime: Runtime) -> None:
    registration, tokens = device_tokens(client, browser, runtime, "bob")
    bearer = {BEARER: tokens["accessToken"]}
    assert client.get("/assignment/accounts", headers=bearer).status_code == 200
    (held,) = listed(runtime)

    nothing = run_cli(runtime, "sessions", "revoke", "--person", "mallory")
    assert nothing.exit_code == 0 and "no live session matched" in nothing.output
    done = run_cli(runtime, "sessions", "revoke", "--session", held["SessionId"])
    assert done.exit_code == 0, done.output
    assert f"revoked sso session {held['SessionId']} of demo-bob" in done.output

    # The database row is what every instance reads: the token and the refresh token stop now.
    aws_error(client.get("/assignment/accounts", headers=bearer), "UnauthorizedException", 401)
    aws_error(refresh(client, registration, tokens), "InvalidGrantException", 400)
    assert listed(runtime) == []
    (event,) = audit(runtime, "RevokeSession")
    assert event["requestParameters"] == {"sessionKind": "sso", "sessionId": held["SessionId"], "subject": "demo-bob"}
    assert event["userIdentity"]["principalId"] == "broker-cli"
    assert event["additionalEventData"]["selectedBy"] == {"sessionId": held["SessionId"]}


def test_revoke_needs_a_criterion(runtime: Runtime) -> None:
    result = run_cli(runtime, "sessions", "revoke")
    assert result.exit_code != 0 and "--person, --role or --session" in result.output
    result = run_cli(runtime, "sessions", "revoke", "--person", "bob", "--older-than-now")
    assert result.exit_code != 0 and "needs --role" in result.output
    result = run_cli(runtime, "sessions", "revoke", "--role", "not-an-arn", "--older-than-now")
    assert result.exit_code != 0 and "not-an-arn" in result.output
    result = run_cli(runtime, "sessions", "revoke", "--role", f"arn:aws:iam::{ACCOUNT}:role/Gone", "--older-than-now")
    assert result.exit_code != 0 and "NoSuchEntity" in result.output


def test_a_role_tag_sets_how_long_the_sign_in_lasts(
    client: FlaskClient, browser: FlaskClient, runtime: Runtime, clock: sso.Clock
) -> None:
    month = 30 * 24 * 3600
    with runtime.db.transaction() as tx:
        tagging.tag(tx, "Role", ACCOUNT, "DemoDeveloper", [(SESSION_DURATION_TAG, str(month))])
        tagging.tag(tx, "Role", ACCOUNT, "DemoReadOnly", [(SESSION_DURATION_TAG, "forever")])  # ignored: the default
    registration, tokens = device_tokens(client, browser, runtime, "bob")
    (held,) = listed(runtime)
    lasts = dt.datetime.fromisoformat(held["ExpiresAt"]) - dt.datetime.fromisoformat(held["CreatedAt"])
    assert abs(lasts.total_seconds() - month) < 5

    # Past the default 8 hours: only the long-lived role is still reached, and refreshes go on.
    clock.offset = dt.timedelta(seconds=runtime.settings.sso_session_lifetime_seconds + 60)
    renewed = refresh(client, registration, tokens)
    assert renewed.status_code == 200, renewed.text
    bearer = {BEARER: renewed.get_json()["accessToken"]}
    roles = client.get("/assignment/roles", query_string={"account_id": ACCOUNT}, headers=bearer).get_json()
    assert [r["roleName"] for r in roles["roleList"]] == ["DemoDeveloper"]
    query = {"role_name": "DemoReadOnly", "account_id": ACCOUNT}
    refused = client.get("/federation/credentials", query_string=query, headers=bearer)
    aws_error(refused, "ResourceNotFoundException", 404)

    # A length changed now applies at the next call: the lengths are cached under the account's
    # generation stamp, which the change bumps.
    with runtime.db.transaction() as tx:
        tagging.tag(tx, "Role", ACCOUNT, "DemoReadOnly", [(SESSION_DURATION_TAG, str(month))])
    roles = client.get("/assignment/roles", query_string={"account_id": ACCOUNT}, headers=bearer).get_json()
    assert sorted(r["roleName"] for r in roles["roleList"]) == ["DemoDeveloper", "DemoReadOnly"]

    # Past the role's own length the session is over: the person signs in again.
    clock.offset = dt.timedelta(seconds=month + 60)
    aws_error(refresh(client, registration, tokens), "InvalidGrantException", 400)


def test_an_account_tag_sets_it_for_the_roles_without_their_own(
    client: FlaskClient, browser: FlaskClient, runtime: Runtime, clock: sso.Clock
) -> None:
    day = 24 * 3600
    with runtime.db.transaction() as tx:
        structure.create_organization(tx, ACCOUNT, "ALL", runtime.now())
        structure.tag_resource(tx, ACCOUNT, ACCOUNT, [{"Key": SESSION_DURATION_TAG, "Value": str(day)}])
        tagging.tag(tx, "Role", ACCOUNT, "DemoReadOnly", [(SESSION_DURATION_TAG, "3600")])  # the role's tag wins
    registration, tokens = device_tokens(client, browser, runtime, "bob")
    (held,) = listed(runtime)
    lasts = dt.datetime.fromisoformat(held["ExpiresAt"]) - dt.datetime.fromisoformat(held["CreatedAt"])
    assert abs(lasts.total_seconds() - day) < 5

    clock.offset = dt.timedelta(seconds=2 * 3600)
    renewed = refresh(client, registration, tokens)
    assert renewed.status_code == 200, renewed.text
    bearer = {BEARER: renewed.get_json()["accessToken"]}
    roles = client.get("/assignment/roles", query_string={"account_id": ACCOUNT}, headers=bearer).get_json()
    assert [r["roleName"] for r in roles["roleList"]] == ["DemoDeveloper"]

    clock.offset = dt.timedelta(seconds=day + 60)
    aws_error(refresh(client, registration, tokens), "InvalidGrantException", 400)
    aws_error(client.get("/assignment/accounts", headers=bearer), "UnauthorizedException", 401)


def test_cli_sessions_are_listed_and_revoked_too(browser: FlaskClient, runtime: Runtime) -> None:
    sso.sign_in(browser, "alice")
    handle = "a-refresh-handle-the-cli-keeps"
    with runtime.db.transaction() as tx:
        web = tx.scalars(select(models.WebSession)).one()
        now = runtime.now()
        cli_store.add_cli_session(
            tx,
            CliSessionRecord(
                handle_hash=token_hash(handle),
                web_session_hash=web.id_hash,
                client_id="broker-cli",
                subject="demo-alice",
                provider_arn=web.provider_arn,
                default_role_arn=DEVELOPER,
                grant_ref="grant",
                created_at=now,
                expires_at=web.expires_at,
                last_used_at=now,
            ),
        )
    (held,) = listed(runtime, "--person", "demo-alice", kind="cli")
    # It refreshes into any role the sign-in offered, so it reaches each of them, its default first.
    assert held["Kind"] == "cli" and held["RoleArns"][0] == DEVELOPER
    admin = f"arn:aws:iam::{ACCOUNT}:role/demo/DemoAdmin"
    assert admin in held["RoleArns"] and held["RoleArns"].count(DEVELOPER) == 1
    assert listed(runtime, "--role", admin, kind="cli") == [held]
    assert held["SessionId"] == token_hash(handle)[:32]  # never the handle itself

    done = run_cli(runtime, "sessions", "revoke", "--role", DEVELOPER, "--person", "demo-alice", "--kind", "cli")
    assert done.exit_code == 0 and f"revoked cli session {held['SessionId']}" in done.output
    with runtime.db.transaction() as tx, pytest.raises(OAuthError) as refused:
        live_cli_session(tx, handle, runtime.now())
    assert refused.value.code == "invalid_grant" and "signed out" in refused.value.message
    (event,) = audit(runtime, "RevokeSession")
    assert event["eventSource"] == "sso-oauth.amazonaws.com"
    assert event["additionalEventData"]["selectedBy"] == {"person": "demo-alice", "roleArn": DEVELOPER, "kind": "cli"}


def test_a_browser_sign_in_is_listed_and_ended(client: FlaskClient, browser: FlaskClient, runtime: Runtime) -> None:
    sso.sign_in(browser, "alice")
    assert browser.get("/saml/roles").status_code == 200
    (held,) = listed(runtime, "--person", "demo-alice", kind="web")
    assert DEVELOPER in held["RoleArns"] and held["ExpiresAt"] > held["CreatedAt"]
    with runtime.db.read() as tx:
        (cookie_hash,) = tx.scalars(select(models.WebSession.id_hash)).all()
    assert held["SessionId"] == cookie_hash[:32]  # a prefix of the cookie's hash, never the cookie

    done = run_cli(runtime, "sessions", "revoke", "--person", "demo-alice", "--kind", "web")
    assert done.exit_code == 0 and f"revoked web session {held['SessionId']} of demo-alice" in done.output
    # The browser's next page finds no sign-in, on any instance: the row is gone.
    after = browser.get("/saml/roles")
    assert after.status_code in (302, 303, 401) and "DemoDeveloper" not in after.text
    assert listed(runtime, kind="web") == []
    (event,) = audit(runtime, "RevokeSession")
    assert event["eventSource"] == "signin.amazonaws.com"
    assert event["requestParameters"]["sessionKind"] == "web"
