"""Two `broker serve` processes on one PostgreSQL database behave as one service.

Both instances have the same public URL (as behind a load balancer) and the test sends each
step of a flow to whichever instance it likes: a sign-in started on one finishes on the other,
an assertion is accepted once across both, a change through one applies on the other at its
next request, and the audit trail stays whole when one of them is killed mid-load.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner

from broker.cli.main import cli
from tests.support.brokers import free_port, postgres_schema
from tests.support.served import Served, broker_env, serving_several

NO_RETRIES = Config(retries={"total_max_attempts": 1})
ALICE_DEVELOPER = "arn:aws:iam::123456789012:role/demo/DemoDeveloper"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def field(html: str, name: str) -> str:
    match = re.search(rf"name=['\"]{name}['\"] value=['\"]([^'\"]*)['\"]", html)
    assert match is not None, f"no {name} in {html[:400]}"
    return unescape(match.group(1))


@dataclass
class Pair:
    a: Served
    b: Served
    admin: dict[str, str]
    env: dict[str, str]

    def client(self, served: Served, service: str, key: str | None = None, secret: str | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=served.url,
            region_name="us-east-1",
            aws_access_key_id=key or self.admin["AccessKeyId"],
            aws_secret_access_key=secret or self.admin["SecretAccessKey"],
            config=NO_RETRIES,
        )


def run_broker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli.main", *args], env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
def pair(tmp_path: Path, keys_dir: Path) -> Iterator[Pair]:
    with postgres_schema() as database_url:
        port_a, port_b = free_port(), free_port()
        env = broker_env(tmp_path, keys_dir, database_url, port_a)
        env.update(
            {
                "BROKER_DEMO": "true",  # the bundled IdP: stateless, its keys in the shared certs
                "BROKER_BASE_URL": f"http://127.0.0.1:{port_a}",  # one public URL for both
                "BROKER_RATE_LIMIT_ENABLED": "false",  # the replay test sends 1,000 posts from one address
                "BROKER_AUDIT_DIGEST_INTERVAL_SECONDS": "3600",
            }
        )
        runner = CliRunner()  # in this process: the same commands without two interpreter start-ups
        initialised = runner.invoke(cli, ["init"], env=env)
        assert initialised.exit_code == 0, initialised.output
        made = runner.invoke(cli, ["bootstrap-admin"], env=env)
        assert made.exit_code == 0, made.output
        threads = ("--threads", "8")
        specs = [(env, port_a, tmp_path / "a.log", threads), (env, port_b, tmp_path / "b.log", threads)]
        with serving_several(specs) as (a, b):
            yield Pair(a, b, json.loads(made.stdout), env)
        for log in ("a.log", "b.log"):
            assert "Traceback" not in (tmp_path / log).read_text()


def on(served: Served, url: str) -> str:
    """``url`` (built on the public URL) sent to ``served`` instead."""
    parts = urlsplit(url)
    return f"{served.url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def saml_response_from(pair: Pair, browser: requests.Session, start: Served, idp: Served) -> str:
    """SP-initiated: /saml/login on ``start``, the demo IdP on ``idp``; the SAMLResponse to post."""
    started = browser.get(f"{start.url}/saml/login?provider=demo", allow_redirects=False, timeout=30)
    assert started.status_code == 302, started.text
    form = browser.get(on(idp, started.headers["Location"]), timeout=30)
    assert form.status_code == 200, form.text
    posted = browser.post(
        f"{idp.url}/demo-idp/login",
        data={"username": "alice", "password": "alice-demo", "request_id": field(form.text, "request_id")},
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    return field(posted.text, "SAMLResponse")


def test_a_sign_in_started_on_one_instance_finishes_on_the_other(pair: Pair) -> None:
    browser = requests.Session()
    saml_response = saml_response_from(pair, browser, start=pair.a, idp=pair.b)
    roles = browser.post(f"{pair.b.url}/saml/acs", data={"SAMLResponse": saml_response}, timeout=30)
    assert roles.status_code == 200, roles.text
    assert 'id="role-form"' in roles.text
    chosen = browser.post(  # the web session lives in the database: instance A takes the choice
        f"{pair.a.url}/saml/roles",
        data={"role_arn": ALICE_DEVELOPER, "csrf_token": field(roles.text, "csrf_token")},
        timeout=30,
    )
    assert chosen.status_code == 200, chosen.text
    key = re.search(r'id="access-key-id"[^>]*>([^<]+)<', chosen.text)
    secret = re.search(r'id="secret-access-key"[^>]*>([^<]+)<', chosen.text)
    token = re.search(r'id="session-token"[^>]*>([^<]+)<', chosen.text)
    assert key and secret and token
    sts = boto3.client(
        "sts",
        endpoint_url=pair.b.url,
        region_name="us-east-1",
        aws_access_key_id=key.group(1).strip(),
        aws_secret_access_key=secret.group(1).strip(),
        aws_session_token=unescape(token.group(1).strip()),
        config=NO_RETRIES,
    )
    assert sts.get_caller_identity()["Arn"] == "arn:aws:sts::123456789012:assumed-role/DemoDeveloper/alice"


def unsolicited_response(pair: Pair) -> str:
    """IdP-initiated: the demo IdP's login without a request; the replay guard alone stops a replay."""
    posted = requests.post(
        f"{pair.b.url}/demo-idp/login", data={"username": "alice", "password": "alice-demo"}, timeout=30
    )
    assert posted.status_code == 200, posted.text
    return field(posted.text, "SAMLResponse")


@pytest.mark.parametrize("initiated", ["sp", "idp"])
def test_one_assertion_posted_a_thousand_times_to_both_is_accepted_once(pair: Pair, initiated: str) -> None:
    browser = requests.Session()
    if initiated == "sp":
        saml_response = saml_response_from(pair, browser, start=pair.a, idp=pair.a)
    else:
        saml_response = unsolicited_response(pair)
    cookies = browser.cookies.get_dict()

    def post(index: int) -> tuple[int, str]:
        target = pair.a if index % 2 else pair.b
        answer = requests.post(
            f"{target.url}/saml/acs", data={"SAMLResponse": saml_response}, cookies=cookies, timeout=60
        )
        return answer.status_code, answer.text

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(post, range(1000)))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 1, sorted(set(statuses))
    refused = [text for status, text in answers if status != 200]
    assert all(status == 403 for status in statuses if status != 200), sorted(set(statuses))
    codes = [
        match.group(1) if (match := re.search(r'id="error-code"[^>]*>([^<]+)<', text)) else None for text in refused
    ]
    assert set(codes) <= {"Replay"}, sorted({str(code) for code in codes})


def test_a_change_through_one_instance_applies_on_the_other_at_its_next_request(pair: Pair) -> None:
    iam_a = pair.client(pair.a, "iam")
    iam_a.create_user(UserName="carol")
    key = iam_a.create_access_key(UserName="carol")["AccessKey"]
    iam_a.put_user_policy(
        UserName="carol",
        PolicyName="list",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}
        ),
    )
    carol_b = pair.client(pair.b, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert carol_b.list_users()["Users"]  # B caches carol's key and policies now
    # A policy change on A: B denies at its next request.
    iam_a.put_user_policy(
        UserName="carol",
        PolicyName="deny",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:ListUsers", "Resource": "*"}]}
        ),
    )
    with pytest.raises(ClientError) as denied:
        carol_b.list_users()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    # A key change on A: B refuses the key at its next request.
    iam_a.update_access_key(UserName="carol", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    sts_b = pair.client(pair.b, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as refused:
        sts_b.get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_a_trust_policy_change_through_one_instance_applies_on_the_other(pair: Pair) -> None:
    iam_a = pair.client(pair.a, "iam")
    account = pair.admin["AccountId"]
    for name in ("dave", "erin"):
        iam_a.create_user(UserName=name)
        iam_a.put_user_policy(
            UserName=name,
            PolicyName="assume",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
                }
            ),
        )
    keys = {name: iam_a.create_access_key(UserName=name)["AccessKey"] for name in ("dave", "erin")}

    def trust(name: str) -> str:
        principal = {"AWS": f"arn:aws:iam::{account}:user/{name}"}
        statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    role = iam_a.create_role(RoleName="Deploy", AssumeRolePolicyDocument=trust("dave"))["Role"]["Arn"]
    sts_b = {
        name: pair.client(pair.b, "sts", keys[name]["AccessKeyId"], keys[name]["SecretAccessKey"]) for name in keys
    }
    assert (
        sts_b["dave"].assume_role(RoleArn=role, RoleSessionName="deploy")["AssumedRoleUser"]["Arn"].endswith("/deploy")
    )
    with pytest.raises(ClientError) as refused:
        sts_b["erin"].assume_role(RoleArn=role, RoleSessionName="deploy")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # The trust policy changes on A; B, which has just used it, follows at its next request.
    iam_a.update_assume_role_policy(RoleName="Deploy", PolicyDocument=trust("erin"))
    assert (
        sts_b["erin"].assume_role(RoleArn=role, RoleSessionName="deploy")["AssumedRoleUser"]["Arn"].endswith("/deploy")
    )
    with pytest.raises(ClientError) as now_refused:
        sts_b["dave"].assume_role(RoleArn=role, RoleSessionName="deploy")
    assert now_refused.value.response["Error"]["Code"] == "AccessDenied"


def test_the_trail_stays_whole_when_one_instance_is_killed_mid_load(pair: Pair, tmp_path: Path) -> None:
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        iam = {name: pair.client(served, "iam") for name, served in (("a", pair.a), ("b", pair.b))}
        count = 0
        while not stop.is_set() and count < 60:
            target = "a" if (worker + count) % 2 else "b"
            try:
                reply = iam[target].create_user(UserName=f"load-{worker}-{count}")
            except Exception:  # the killed instance: connections refused or cut mid-request
                count += 1
                continue
            with lock:
                answered.append(reply["ResponseMetadata"]["RequestId"])
            count += 1

    threads = [threading.Thread(target=load, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    while len(answered) < 60:
        threading.Event().wait(0.05)
    pair.a.kill()  # no final digest, requests in flight cut

    for thread in threads:
        thread.join(timeout=300)
    stop.set()
    assert len(answered) >= 60
    # Every answered request has its event: read through the surviving instance.
    trail = pair.client(pair.b, "cloudtrail")
    recorded: set[str] = set()
    for page in trail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]
    ):
        recorded.update(json.loads(event["CloudTrailEvent"])["requestID"] for event in page["Events"])
    missing = set(answered) - recorded
    assert not missing, f"{len(missing)} answered requests have no event"
    # The chain verifies end to end, once the survivor has written a digest over the new events.
    digest = run_broker(pair.env, "audit", "digest")
    assert digest.returncode == 0, digest.stderr
    verified = run_broker(pair.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    shutil.rmtree(tmp_path / "unused", ignore_errors=True)


def signed_in_browser(pair: Pair, at: Served) -> requests.Session:
    """A browser with a broker web session (alice, through the demo IdP), signed in at ``at``."""
    browser = requests.Session()
    saml_response = saml_response_from(pair, browser, start=at, idp=at)
    roles = browser.post(f"{at.url}/saml/acs", data={"SAMLResponse": saml_response}, timeout=30)
    assert roles.status_code == 200 and 'id="role-form"' in roles.text, roles.text[:300]
    return browser


def consent_fields(html: str) -> dict[str, str]:
    start = html.rindex("<form", 0, html.index('id="consent-form"'))
    form = html[start : html.index("</form>", start)]
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value and ('type="hidden"' in tag or " checked" in tag):
            fields[unescape(name.group(1))] = unescape(value.group(1))
    return fields


def assumed(pair: Pair, served: Served, credentials: dict[str, Any]) -> str:
    sts = boto3.client(
        "sts",
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=NO_RETRIES,
    )
    return str(sts.get_caller_identity()["Arn"])


def test_the_cli_browser_flow_moves_between_instances(pair: Pair) -> None:
    """PKCE: authorize on B, approve on A, exchange on B, refresh on A."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B
    loopback = "http://127.0.0.1:53682/callback"
    browser = signed_in_browser(pair, pair.a)
    page = browser.get(
        f"{pair.b.url}/cli/authorize",
        params={
            "response_type": "code",
            "client_id": "broker-cli",
            "redirect_uri": loopback,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s-1",
            "role": ALICE_DEVELOPER,
        },
        timeout=30,
    )
    assert page.status_code == 200 and 'id="consent-form"' in page.text, page.text[:300]
    approved = browser.post(
        f"{pair.a.url}/cli/authorize/resume",
        data={**consent_fields(page.text), "action": "approve"},
        allow_redirects=False,
        timeout=30,
    )
    assert approved.status_code == 303 and approved.headers["Location"].startswith(loopback)
    code = re.search(r"[?&]code=([^&]+)", approved.headers["Location"])
    assert code is not None
    granted = requests.post(
        f"{pair.b.url}/cli/token",
        data={
            "grant_type": "authorization_code",
            "code": code.group(1),
            "code_verifier": verifier,
            "redirect_uri": loopback,
            "client_id": "broker-cli",
        },
        timeout=30,
    )
    assert granted.status_code == 200, granted.text
    assert assumed(pair, pair.a, granted.json()).endswith("assumed-role/DemoDeveloper/alice")
    refreshed = requests.post(
        f"{pair.a.url}/cli/token",
        data={
            "client_id": "broker-cli",
            "grant_type": "refresh_token",
            "refresh_token": granted.json()["refresh_token"],
        },
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert assumed(pair, pair.b, refreshed.json()).endswith("assumed-role/DemoDeveloper/alice")


def test_the_cli_device_flow_moves_between_instances(pair: Pair) -> None:
    """Device: started on A, approved in a browser on B, polled on both."""
    started = requests.post(
        f"{pair.a.url}/cli/device", data={"client_id": "broker-cli", "role": ALICE_DEVELOPER}, timeout=30
    )
    assert started.status_code == 200, started.text
    device = started.json()
    pending = requests.post(
        f"{pair.b.url}/cli/token",
        data={"client_id": "broker-cli", "grant_type": DEVICE_GRANT, "device_code": device["device_code"]},
        timeout=30,
    )
    assert pending.json()["error"] == "authorization_pending"
    browser = signed_in_browser(pair, pair.b)
    page = browser.get(f"{pair.b.url}/cli/device/verify", timeout=30)
    csrf = field(page.text, "csrf_token")
    confirm = browser.post(
        f"{pair.a.url}/cli/device/verify",
        data={"user_code": device["user_code"], "action": "lookup", "csrf_token": csrf},
        timeout=30,
    )
    assert confirm.status_code == 200 and device["user_code"] in confirm.text, confirm.text[:300]
    approved = browser.post(
        f"{pair.b.url}/cli/device/verify",
        data={"user_code": device["user_code"], "action": "approve", "role_arn": ALICE_DEVELOPER, "csrf_token": csrf},
        timeout=30,
    )
    assert approved.status_code == 200 and "Device approved" in approved.text
    deadline = time.monotonic() + 60
    while True:  # the poll interval is the device flow's, whichever instance answers
        granted = requests.post(
            f"{pair.a.url}/cli/token",
            data={"client_id": "broker-cli", "grant_type": DEVICE_GRANT, "device_code": device["device_code"]},
            timeout=30,
        )
        if granted.status_code == 200 or time.monotonic() > deadline:
            break
        assert granted.json()["error"] in ("authorization_pending", "slow_down"), granted.text
        time.sleep(device["interval"])
    assert granted.status_code == 200, granted.text
    assert assumed(pair, pair.b, granted.json()).endswith("assumed-role/DemoDeveloper/alice")
