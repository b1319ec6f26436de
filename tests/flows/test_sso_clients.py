"""Stock AWS tools sign in against `broker serve`: botocore/boto3 and the AWS CLI (v1) from PyPI,
with an ``sso_session`` profile and endpoint overrides, no broker code on the "laptop".

The broker runs as `broker serve` (gunicorn, the production server: the bearer header with an
underscore must reach the app through it). The first token comes from a device authorization
that boto3's sso-oidc client starts and polls, approved on the broker's own pages by a person
signed in through the demo IdP. From then on botocore refreshes by itself: the access token
(600 s, under botocore's 15-minute window) through the refresh_token grant, and role
credentials (900 s, under its 15-minute advisory window) through GetRoleCredentials.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.credentials
import botocore.tokens
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.demo.setup import prepare_demo, seed_demo
from broker.services.runtime import Runtime
from broker.store import models
from broker.web.app import create_app
from tests.support.brokers import free_port, make_runtime, make_settings
from tests.support.demo_flow import demo_sign_in
from tests.support.served import serving

ACCOUNT = "123456789012"
SESSION_NAME = "broker"
AWS = Path(sys.executable).with_name("aws")


@pytest.fixture
def served(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[tuple[str, Runtime]]:
    """`broker serve` with the demo on ``database_url``, and a runtime on the same database."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, demo=True)
    runtime = Runtime.from_settings(settings)
    prepare_demo(runtime)
    runtime.db.dispose()
    runtime = make_runtime(replace(settings, sso_access_token_lifetime_seconds=600, sso_role_credentials_seconds=900))
    seed_demo(runtime)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    env.update(
        BROKER_DATABASE_URL=database_url,
        BROKER_CERTS_DIR=settings.certs_dir,
        BROKER_METADATA_DIR=settings.metadata_dir,
        BROKER_BASE_URL=base_url,
        BROKER_DEMO="true",
        BROKER_SSO_ACCESS_TOKEN_LIFETIME_SECONDS="600",
        BROKER_SSO_ROLE_CREDENTIALS_SECONDS="900",
    )
    try:
        with serving(env, port, tmp_path / "serve.log"):
            yield base_url, runtime
    finally:
        runtime.db.dispose()


@pytest.fixture
def laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: tuple[str, Runtime]) -> Path:
    """A home directory with an ``sso_session`` profile pointing at the broker, and the endpoint
    overrides in the environment (botocore reads them for sso-oidc, sso and sts)."""
    base_url, _runtime = served
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text(
        f"[sso-session {SESSION_NAME}]\n"
        f"sso_start_url = {base_url}/start\n"
        "sso_region = us-east-1\n"
        "sso_registration_scopes = sso:account:access\n\n"
        "[profile dev]\n"
        f"sso_session = {SESSION_NAME}\n"
        f"sso_account_id = {ACCOUNT}\n"
        "sso_role_name = DemoDeveloper\n"
        "region = us-east-1\n"
    )
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    for service in ("SSO_OIDC", "SSO", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", base_url)
    # botocore works out ~/.aws/sso/cache when imported: point this process's copy at the new home.
    cache = str(home / ".aws" / "sso" / "cache")
    monkeypatch.setattr(botocore.tokens.SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", cache)
    monkeypatch.setattr(botocore.credentials.SSOProvider, "_SSO_TOKEN_CACHE_DIR", cache)
    return home


def _approve(runtime: Runtime, verification_uri_complete: str) -> None:
    """The person: signs in through the demo IdP and approves the code on the broker's page."""
    browser: FlaskClient = create_app(runtime=runtime).test_client()
    assert demo_sign_in(browser, "bob", "bob-demo").status_code == 200
    link = urlsplit(verification_uri_complete)
    page = browser.get(f"{link.path}?{link.query}")
    assert 'id="consent-form"' in page.text, page.text[:500]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    done = browser.post("/device", data={**fields, "action": "approve"})
    assert 'id="device-approved"' in done.text


def _sign_in_with_device_code(base_url: str, runtime: Runtime, home: Path) -> dict[str, Any]:
    """What `aws sso login --use-device-code` does, with boto3's sso-oidc client; writes the
    token cache as the AWS CLI does (~/.aws/sso/cache/<sha1 of the session name>.json)."""
    oidc = boto3.client("sso-oidc", region_name="us-east-1")
    registration = oidc.register_client(clientName="botocore-client-broker", clientType="public")
    started = oidc.start_device_authorization(
        clientId=registration["clientId"], clientSecret=registration["clientSecret"], startUrl=f"{base_url}/start"
    )
    with pytest.raises(oidc.exceptions.AuthorizationPendingException):
        oidc.create_token(
            clientId=registration["clientId"],
            clientSecret=registration["clientSecret"],
            grantType="urn:ietf:params:oauth:grant-type:device_code",
            deviceCode=started["deviceCode"],
        )
    _approve(runtime, started["verificationUriComplete"])
    time.sleep(started["interval"])
    tokens = oidc.create_token(
        clientId=registration["clientId"],
        clientSecret=registration["clientSecret"],
        grantType="urn:ietf:params:oauth:grant-type:device_code",
        deviceCode=started["deviceCode"],
    )
    expires_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + tokens["expiresIn"]))
    registration_expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(registration["clientSecretExpiresAt"]))
    cache = {
        "startUrl": f"{base_url}/start",
        "region": "us-east-1",
        "accessToken": tokens["accessToken"],
        "expiresAt": expires_at,
        "clientId": registration["clientId"],
        "clientSecret": registration["clientSecret"],
        "registrationExpiresAt": registration_expires,
        "refreshToken": tokens["refreshToken"],
    }
    directory = home / ".aws" / "sso" / "cache"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{hashlib.sha1(SESSION_NAME.encode()).hexdigest()}.json").write_text(json.dumps(cache))  # noqa: S324
    return cache


def _events(runtime: Runtime, name: str) -> list[dict[str, Any]]:
    with runtime.db.transaction() as tx:
        return [row.record for row in tx.scalars(select(models.AuditEvent).where(models.AuditEvent.event_name == name))]


def _cache(home: Path) -> dict[str, Any]:
    path = home / ".aws" / "sso" / "cache" / f"{hashlib.sha1(SESSION_NAME.encode()).hexdigest()}.json"  # noqa: S324
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_botocore_signs_in_and_refreshes_the_token_and_role_credentials(
    served: tuple[str, Runtime], laptop: Path
) -> None:
    base_url, runtime = served
    first = _sign_in_with_device_code(base_url, runtime, laptop)

    session = boto3.Session(profile_name="dev")
    identity = session.client("sts").get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/DemoDeveloper/")
    # The token had under 15 minutes left: botocore refreshed it through refresh_token and saved it.
    refreshed = _cache(laptop)
    assert refreshed["accessToken"] != first["accessToken"]
    assert refreshed["refreshToken"] == first["refreshToken"]
    assert refreshed["expiresAt"].endswith("Z")
    grants = [e["requestParameters"]["grantType"] for e in _events(runtime, "CreateToken") if not e.get("errorCode")]
    assert grants.count("refresh_token") >= 1

    # Role credentials of 900 s are inside botocore's advisory window: it fetches new ones itself.
    issued_before = len(_events(runtime, "GetRoleCredentials"))
    credentials = session.get_credentials()
    keys = {credentials.get_frozen_credentials().access_key for _ in range(2)}
    assert len(_events(runtime, "GetRoleCredentials")) > issued_before
    assert all(key.startswith("ASIA") for key in keys)
    assert session.client("sts").get_caller_identity()["Account"] == ACCOUNT

    sso = session.client("sso", region_name="us-east-1")
    token = _cache(laptop)["accessToken"]
    assert [a["accountId"] for a in sso.list_accounts(accessToken=token)["accountList"]] == [ACCOUNT]
    roles = sso.list_account_roles(accessToken=token, accountId=ACCOUNT)["roleList"]
    assert {r["roleName"] for r in roles} == {"DemoDeveloper", "DemoReadOnly"}
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.get_role_credentials(accessToken=token, accountId=ACCOUNT, roleName="DemoAdmin")
    sso.logout(accessToken=token)
    with pytest.raises(sso.exceptions.UnauthorizedException):
        sso.list_accounts(accessToken=token)


def test_the_aws_cli_uses_the_same_profile(served: tuple[str, Runtime], laptop: Path) -> None:
    base_url, runtime = served
    _sign_in_with_device_code(base_url, runtime, laptop)

    def aws(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(AWS), *args, "--output", "json"], capture_output=True, text=True, timeout=120, env=os.environ.copy()
        )
        assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    identity = aws("sts", "get-caller-identity", "--profile", "dev")
    assert ":assumed-role/DemoDeveloper/" in identity["Arn"]
    token = _cache(laptop)["accessToken"]
    # "--access-token=VALUE": a token may begin with "-", which argparse would read as an option.
    accounts = aws("sso", "list-accounts", f"--access-token={token}", "--region", "us-east-1")
    assert accounts["accountList"][0]["accountId"] == ACCOUNT
    bearer = f"--access-token={token}"
    roles = aws("sso", "list-account-roles", bearer, "--account-id", ACCOUNT, "--region", "us-east-1")
    assert {r["roleName"] for r in roles["roleList"]} == {"DemoDeveloper", "DemoReadOnly"}
    credentials = aws(
        "sso",
        "get-role-credentials",
        f"--access-token={token}",
        "--account-id",
        ACCOUNT,
        "--role-name",
        "DemoReadOnly",
        "--region",
        "us-east-1",
    )["roleCredentials"]
    assert credentials["accessKeyId"].startswith("ASIA")
    assert credentials["expiration"] > time.time() * 1000 + 800_000  # epoch milliseconds, 900 s ahead


def test_the_underscore_bearer_header_passes_and_a_spoofed_forwarding_header_does_not(
    served: tuple[str, Runtime], laptop: Path
) -> None:
    base_url, runtime = served
    token = _sign_in_with_device_code(base_url, runtime, laptop)["accessToken"]
    port = int(urlsplit(base_url).port or 80)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"GET /assignment/accounts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"x-amz-sso_bearer_token: " + token.encode() + b"\r\n"
            b"X_Forwarded_For: 203.0.113.9\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert f'"accountId": "{ACCOUNT}"'.encode() in answer
    listed = _events(runtime, "ListAccounts")
    assert [e["sourceIPAddress"] for e in listed] == ["127.0.0.1"]
