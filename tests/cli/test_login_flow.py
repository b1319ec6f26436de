"""`broker login` and the commands that use its credentials, in-process against a live demo broker.

The "browser" is a scripted urllib client (tests/cli/demo_browser.py) standing in for
`webbrowser.open`, so every CLI path runs in seconds; tests/flows/test_cli_browser.py does the
same with Chromium and SimpleSAMLphp.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from broker.cli import cache
from broker.cli.main import cli
from broker.services.cli_auth import device
from broker.store import models
from tests.cli.conftest import demo_role
from tests.cli.demo_browser import DemoBrowser, Visit
from tests.support.brokers import LiveBroker, free_port


class FakeBrowser:
    """Takes `webbrowser.open(url)` and acts on the URL in a thread, like a person would."""

    def __init__(self, act: Callable[[str], Visit]) -> None:
        self.act = act
        self.urls: list[str] = []
        self.pages: list[Visit] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        self.urls.append(url)
        thread = threading.Thread(target=lambda: self.pages.append(self.act(url)), daemon=True)
        thread.start()
        self.threads.append(thread)
        return True

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeBrowser]:
    def install(user: str = "bob", role: str | None = None, action: str = "approve") -> FakeBrowser:
        person = DemoBrowser(user=user, password=f"{user}-demo")
        fake = FakeBrowser(lambda url: person.authorize(url, role, action))
        monkeypatch.setattr(webbrowser, "open", fake.open)
        return fake

    return install


def test_login_then_every_command_that_uses_the_credentials(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser]
) -> None:
    fake = browser(role=demo_role("DemoDeveloper"))
    done = run("login", "--url", demo_broker.url, "--profile", "dev")
    fake.join()
    assert done.exit_code == 0, done.output
    assert fake.pages[-1].body.count("You can close this tab") == 1
    assert "Profile dev: arn:aws:sts::123456789012:assumed-role/DemoDeveloper/" in done.stdout
    assert "credential_process = " in done.stderr  # the ~/.aws/config hint
    assert "  region = us-east-1\n" in done.stderr  # the AWS CLI refuses to run without a region

    printed = json.loads(run("credential-process", "--profile", "dev").stdout)
    assert set(printed) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert printed["Version"] == 1 and printed["AccessKeyId"].startswith("ASIA")

    cached = home / ".cache" / "broker" / "credentials" / "dev.json"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / ".cache" / "broker").stat().st_mode) == 0o700
    config = (home / ".config" / "broker" / "config.toml").read_text()
    assert f'url = "{demo_broker.url}"' in config and "DemoDeveloper" in config

    whoami = run("whoami", "--profile", "dev", "--json")
    assert whoami.exit_code == 0, whoami.output
    assert json.loads(whoami.stdout)["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/DemoDeveloper/")

    exported = json.loads(run("env", "--profile", "dev", "--format", "json").stdout)
    assert exported["AWS_ACCESS_KEY_ID"] == printed["AccessKeyId"]
    assert exported["AWS_ENDPOINT_URL_STS"] == demo_broker.url and "AWS_ENDPOINT_URL" not in exported
    assert "export AWS_SESSION_TOKEN=" in run("env", "--profile", "dev").stdout

    script = (
        "import os, sys; "
        "ok = os.environ['AWS_ACCESS_KEY_ID'].startswith('ASIA') and os.environ['AWS_ENDPOINT_URL_IAM'] and "
        "os.environ['AWS_CREDENTIAL_EXPIRATION'].endswith('Z') and os.environ['AWS_SESSION_TOKEN']; "
        "sys.exit(7 if ok else 1)"
    )
    assert run("exec", "--profile", "dev", "--", sys.executable, "-c", script).exit_code == 7
    missing = run("exec", "--profile", "dev", "--", "no-such-command-here")
    assert missing.exit_code == 1 and "command not found" in missing.stderr

    # A second profile for another role of the same sign-in: no browser this time.
    again = run("login", "--profile", "ro", "--url", demo_broker.url, "--role", demo_role("DemoReadOnly"))
    assert again.exit_code == 0, again.output
    assert len(fake.urls) == 1
    assert "no browser needed" in again.stderr
    assert json.loads(run("whoami", "--profile", "ro", "--json").stdout)["Arn"].startswith(
        "arn:aws:sts::123456789012:assumed-role/DemoReadOnly/"
    )

    listed = run("roles", "--url", demo_broker.url, "--json")
    assert {r["RoleArn"] for r in json.loads(listed.stdout)["Roles"]} == {
        demo_role("DemoDeveloper"),
        demo_role("DemoReadOnly"),
    }
    table = run("roles", "--url", demo_broker.url).stdout
    assert "ROLE ARN" in table and "DemoReadOnly" in table
    forbidden = run("login", "--profile", "adm", "--url", demo_broker.url, "--role", demo_role("DemoAdmin"))
    assert forbidden.exit_code == 1 and "is not permitted" in forbidden.stderr
    assert len(fake.urls) == 1

    # Logging out of one profile forgets its credentials; the session stays while `ro` uses it.
    out = run("logout", "--profile", "dev")
    assert out.exit_code == 0, out.output
    assert f"The broker session at {demo_broker.url} stays signed in: profiles ro still use it" in out.stdout
    assert not cached.exists()
    with demo_broker.runtime.db.transaction() as session:
        assert all(row.revoked_at is None for row in session.query(models.CliSession))
    after = run("credential-process", "--profile", "dev")  # not signed back in by ro's session
    assert after.exit_code == 1
    assert after.stderr.startswith("broker: ") and after.stderr.count("\n") == 1
    assert "broker login --profile dev" in after.stderr
    assert run("whoami", "--profile", "ro").exit_code == 0

    # The last profile on the broker: the session is revoked at the broker too.
    last = run("logout", "--profile", "ro")
    assert last.exit_code == 0 and f"Signed out of {demo_broker.url}." in last.stdout
    with demo_broker.runtime.db.transaction() as session:
        assert all(row.revoked_at is not None for row in session.query(models.CliSession))
    assert run("credential-process", "--profile", "ro").exit_code == 1
    assert run("roles", "--url", demo_broker.url).exit_code == 1


def test_logout_all_ends_every_session_and_forgets_every_profile(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser]
) -> None:
    fake = browser(role=demo_role("DemoDeveloper"))
    assert run("login", "--url", demo_broker.url, "--profile", "dev").exit_code == 0
    fake.join()
    assert run("login", "--url", demo_broker.url, "--profile", "ro", "--role", demo_role("DemoReadOnly")).exit_code == 0
    both = run("logout", "--profile", "dev", "--all")
    assert both.exit_code == 1 and "not both" in both.stderr
    out = run("logout", "--all")
    assert out.exit_code == 0, out.output
    assert "Removed the credentials of every profile (dev, ro)." in out.stdout
    assert f"Signed out of {demo_broker.url}." in out.stdout
    with demo_broker.runtime.db.transaction() as session:
        assert all(row.revoked_at is not None for row in session.query(models.CliSession))
    assert cache.read_session(demo_broker.url) is None
    for name in ("dev", "ro"):
        assert cache.read_credentials(name) is None
        assert run("credential-process", "--profile", name).exit_code == 1
    assert run("logout", "--all").exit_code == 0  # nothing left: still fine


def test_credential_process_refreshes_before_expiry_without_a_browser(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser]
) -> None:
    fake = browser(role=demo_role("DemoDeveloper"))
    assert run("login", "--url", demo_broker.url, "--profile", "dev", "--write-aws-credentials").exit_code == 0
    fake.join()
    first = cache.read_credentials("dev")
    assert first is not None
    # Ten minutes left: inside botocore's refresh window, so the CLI asks the broker for new ones.
    soon = dataclasses.replace(first, expiration=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    cache.write_credentials("dev", soon)
    printed = json.loads(run("credential-process", "--profile", "dev").stdout)
    assert printed["AccessKeyId"] != first.access_key_id
    assert len(fake.urls) == 1
    written = (home / ".aws" / "credentials").read_text()
    assert f"aws_access_key_id = {printed['AccessKeyId']}" in written
    assert "x_security_token_expires = " in written

    # The broker session ends: still-valid credentials are served with a warning, then refused.
    with demo_broker.runtime.db.transaction() as session:
        for row in session.query(models.CliSession):
            row.revoked_at = row.created_at
    stale = dataclasses.replace(first, expiration=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    cache.write_credentials("dev", stale)
    served = run("credential-process", "--profile", "dev")
    assert served.exit_code == 0 and json.loads(served.stdout)["AccessKeyId"] == first.access_key_id
    assert "expire in 4 min" in served.stderr or "expire in 5 min" in served.stderr
    assert first.secret_access_key not in served.stderr and first.session_token not in served.stderr
    cache.write_credentials("dev", dataclasses.replace(first, expiration=dt.datetime.now(dt.UTC)))
    refused = run("credential-process", "--profile", "dev")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "have expired" in refused.stderr and "broker login --profile dev" in refused.stderr
    assert run("logout", "--profile", "dev").exit_code == 0
    assert "aws_access_key_id" not in (home / ".aws" / "credentials").read_text()


def test_the_role_is_chosen_in_the_browser_with_the_requested_duration(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser]
) -> None:
    fake = browser(user="alice", role=demo_role("DemoAdmin"))
    done = run("login", "--url", demo_broker.url, "--profile", "admin", "--duration", "1800")
    fake.join()
    assert done.exit_code == 0, done.output
    assert "DemoAdmin" in done.stdout
    credentials = cache.read_credentials("admin")
    assert credentials is not None
    remaining = credentials.expiration.timestamp() - time.time()
    assert 1700 < remaining <= 1800


def test_browser_refusals_reach_the_terminal_as_one_line(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser]
) -> None:
    browser(role=None, action="deny")
    denied = run("login", "--url", demo_broker.url, "--profile", "dev")
    assert denied.exit_code == 1 and "cancelled in the browser" in denied.stderr

    browser()
    not_permitted = run("login", "--url", demo_broker.url, "--profile", "dev", "--role", demo_role("DemoAdmin"))
    assert not_permitted.exit_code == 1
    assert "is not one this sign-in may assume" in not_permitted.stderr
    assert cache.read_credentials("dev") is None


def test_a_forged_state_is_refused_and_nothing_is_stored(
    home: Path, demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forge(url: str) -> Visit:
        forged = url.replace("state=", "state=forged")
        return DemoBrowser().authorize(forged, demo_role("DemoDeveloper"))

    fake = FakeBrowser(forge)
    monkeypatch.setattr(webbrowser, "open", fake.open)
    refused = run("login", "--url", demo_broker.url, "--profile", "dev")
    fake.join()
    assert refused.exit_code == 1 and "state this login did not send" in refused.stderr
    assert "does not belong to the login" in fake.pages[0].body
    assert cache.read_credentials("dev") is None


def test_timeout_unreachable_broker_and_bad_urls_are_clear(
    home: Path, demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: True)
    slow = run("login", "--url", demo_broker.url, "--profile", "dev", "--timeout", "1")
    assert slow.exit_code == 1 and "did not come back within 1 s" in slow.stderr
    assert f"{demo_broker.url}/cli/authorize?" in slow.stderr  # the URL was printed to retry by hand

    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = run("login", "--url", closed, "--profile", "dev")
    assert unreachable.exit_code == 1 and f"cannot reach the broker at {closed}" in unreachable.stderr

    for url, message in (
        ("http://sso.example.com", "clear text"),
        ("ftp://127.0.0.1", "http(s) URL"),
        ("https://sso.example.com/?x=1", "query"),
    ):
        bad = run("login", "--url", url, "--profile", "dev")
        assert bad.exit_code == 1 and message in bad.stderr, bad.stderr
    assert "--url" in run("login", "--profile", "new").stderr
    assert "not valid" in run("login", "--url", demo_broker.url, "--profile", "../x").stderr
    assert "no profile 'nope'" in run("credential-process", "--profile", "nope").stderr


def test_a_url_other_than_the_brokers_base_url_is_refused_at_once(
    home: Path, demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker sends the browser to its base_url: reached by another URL, sign-in never came back."""

    def never(url: str, *args: object, **kwargs: object) -> bool:
        raise AssertionError("a browser must not be opened for a sign-in that cannot come back")

    monkeypatch.setattr(webbrowser, "open", never)
    other = demo_broker.url.replace("127.0.0.1", "localhost")
    refused = run("login", "--url", other, "--profile", "dev", "--timeout", "30")
    assert refused.exit_code == 1
    assert f"the broker at {other} knows itself as {demo_broker.runtime.settings.base_url}" in refused.stderr
    assert f"use --url {demo_broker.runtime.settings.base_url}" in refused.stderr  # before any browser


def test_no_browser_prints_the_url_to_open(
    home: Path, demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(url: str, *args: object, **kwargs: object) -> bool:
        raise AssertionError("--no-browser must not open a browser")

    monkeypatch.setattr(webbrowser, "open", never)
    printed = run("login", "--url", demo_broker.url, "--profile", "dev", "--no-browser", "--timeout", "1")
    assert "Open this URL in a browser on this computer" in printed.stderr
    assert "code_challenge_method=S256" in printed.stderr


def test_device_login_polls_until_the_person_approves(
    home: Path, demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device, "DEVICE_POLL_INTERVAL", 1)
    person = DemoBrowser()
    result: dict[str, Visit] = {}

    def approve_when_shown(line: str) -> None:
        # `say` prints the code; the person approves from "another device" in a thread.
        if line.strip() and "-" in line.strip() and len(line.strip()) == 9 and line.startswith("    "):
            code = line.strip()
            verification = f"{demo_broker.url}/cli/device/verify"
            thread = threading.Thread(
                target=lambda: result.setdefault(
                    "page", person.approve_device(verification, code, demo_role("DemoReadOnly"))
                ),
                daemon=True,
            )
            thread.start()

    original = click.echo

    def echo(message: object = None, *args: object, **kwargs: object) -> None:
        if isinstance(message, str):
            approve_when_shown(message)
        original(message, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("broker.cli.login.click.echo", echo)
    done = run("login", "--url", demo_broker.url, "--profile", "dev", "--device")
    assert done.exit_code == 0, done.output
    assert "On any device, open" in done.stderr
    assert "Device approved" in result["page"].body
    assert "DemoReadOnly" in done.stdout
    assert os.path.exists(home / ".cache" / "broker" / "credentials" / "dev.json")
