"""`broker login` and friends without --profile, the role prompt, --device within a session,
--write-config, and the wait for the browser (progress, Ctrl-C), against a live demo broker."""

from __future__ import annotations

import configparser
import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from broker.cli import cache, login, waiting
from broker.cli.awsfiles import config_snippet
from broker.cli.main import cli, main
from broker.services.cli_auth import device
from broker.store import models
from tests.cli.conftest import DEMO_ACCOUNT, demo_role
from tests.cli.demo_browser import DemoBrowser, Visit
from tests.cli.test_login_flow import FakeBrowser, browser, run
from tests.services.federation.corp import trust_role
from tests.support.brokers import LiveBroker
from tests.support.signals import interruptible

__all__ = ["browser"]  # the fixture, shared with test_login_flow

PRODUCTION = "210987654321"


def test_the_only_profile_needs_no_profile_option(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser]
) -> None:
    nothing = run("env")
    assert nothing.exit_code == 1 and nothing.stderr == (
        "broker: no profile here yet; run `broker login --url URL --profile NAME` first\n"
    )
    unnamed = run("login", "--url", demo_broker.url)
    assert unnamed.exit_code == 1 and "name the profile to create with --profile NAME" in unnamed.stderr

    fake = browser(role=demo_role("DemoDeveloper"))
    assert run("login", "--url", demo_broker.url, "--profile", "dev").exit_code == 0
    fake.join()
    for argv in (["credential-process"], ["env"], ["whoami"], ["exec", "--", sys.executable, "-c", "pass"]):
        used = run(*argv)
        assert used.exit_code == 0, (argv, used.output)
        assert "broker: using profile dev, the only one\n" in used.stderr
    again = run("login")
    assert again.exit_code == 0, again.output
    assert "using profile dev, the only one" in again.stderr and "no browser needed" in again.stderr
    elsewhere = run("login", "--url", demo_broker.url.replace("127.0.0.1", "localhost"))
    assert elsewhere.exit_code == 1 and "the only profile, dev, is for" in elsewhere.stderr

    assert run("login", "--profile", "ro", "--role", demo_role("DemoReadOnly")).exit_code == 1  # new: needs --url
    assert run("login", "--url", demo_broker.url, "--profile", "ro", "--role", demo_role("DemoReadOnly")).exit_code == 0
    for argv in (["whoami"], ["credential-process"], ["logout"], ["login"]):
        several = run(*argv)
        assert several.exit_code == 1, argv
        assert several.stderr == "broker: several profiles (dev, ro); choose one with --profile\n"
    assert len(fake.urls) == 1


def test_the_role_prompt_takes_a_name(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = browser(role=demo_role("DemoDeveloper"))
    assert run("login", "--url", demo_broker.url, "--profile", "dev").exit_code == 0
    fake.join()
    monkeypatch.setattr(login, "_interactive", lambda: True)
    done = CliRunner().invoke(
        cli, ["login", "--profile", "ro", "--url", demo_broker.url], input="Nope\ndemoreadonly\nn\n"
    )
    assert done.exit_code == 0, done.output
    assert f"  2. {demo_role('DemoReadOnly')}  (" in done.stderr
    assert "'Nope' is none of these" in done.stderr
    credentials = cache.read_credentials("ro")
    assert credentials is not None and credentials.role_arn == demo_role("DemoReadOnly")
    # At a terminal the ~/.aws/config section is offered with its diff; "n" leaves the file alone.
    assert "+credential_process = broker credential-process --profile ro" in done.stderr
    assert "Write them to" in done.stderr and not (home / ".aws" / "config").exists()
    assert len(fake.urls) == 1


def test_the_role_prompt_takes_words_of_the_account_name(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = demo_broker.runtime
    with runtime.db.transaction() as session:  # an account as Organizations' CreateAccount names it
        session.add(models.Account(id=PRODUCTION, alias=None, name="Production", created_at=runtime.now()))
    for role in ("Deployer", "Auditor"):
        trust_role(runtime, PRODUCTION, role, f"arn:aws:iam::{DEMO_ACCOUNT}:saml-provider/demo")
    fake = browser(role=demo_role("DemoDeveloper"))
    assert run("login", "--url", demo_broker.url, "--profile", "dev").exit_code == 0
    fake.join()
    listed = json.loads(run("roles", "--url", demo_broker.url, "--json").stdout)["Roles"]
    assert {r["RoleArn"]: r["AccountName"] for r in listed}[f"arn:aws:iam::{PRODUCTION}:role/Deployer"] == "Production"
    monkeypatch.setattr(login, "_interactive", lambda: True)
    done = CliRunner().invoke(
        cli, ["login", "--profile", "prod", "--url", demo_broker.url], input="production\ndeploy PRODUCT\nn\n"
    )
    assert done.exit_code == 0, done.output
    narrowed = done.stderr.split("'production' matches 2 roles; answer with its number, or more words:\n")[1]
    assert narrowed.startswith(
        f"  3. arn:aws:iam::{PRODUCTION}:role/Auditor  (Production)\n"
        f"  4. arn:aws:iam::{PRODUCTION}:role/Deployer  (Production)\n"
    )
    credentials = cache.read_credentials("prod")
    assert credentials is not None and credentials.role_arn == f"arn:aws:iam::{PRODUCTION}:role/Deployer"
    assert len(fake.urls) == 1


def _approve_device_codes(demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch, role: str) -> dict[str, Visit]:
    """The person approves the code `login --device` prints, from "another device" in a thread."""
    monkeypatch.setattr(device, "DEVICE_POLL_INTERVAL", 1)
    person = DemoBrowser()
    result: dict[str, Visit] = {}
    original = click.echo

    def echo(message: object = None, *args: object, **kwargs: object) -> None:
        line = message if isinstance(message, str) else ""
        if line.startswith("    ") and len(line.strip()) == 9 and "-" in line:
            verification = f"{demo_broker.url}/cli/device/verify"
            code = line.strip()
            threading.Thread(
                target=lambda: result.setdefault("page", person.approve_device(verification, code, role)), daemon=True
            ).start()
        original(message, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("broker.cli.login.click.echo", echo)
    return result


def test_device_within_a_session_offers_it_and_yes_signs_in_anew(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = browser(role=demo_role("DemoDeveloper"))
    assert run("login", "--url", demo_broker.url, "--profile", "dev").exit_code == 0
    fake.join()
    first = cache.read_session(demo_broker.url)
    assert first is not None

    monkeypatch.setattr(login, "_interactive", lambda: True)
    reused = CliRunner().invoke(cli, ["login", "--device"], input="y\nn\n")
    assert reused.exit_code == 0, reused.output
    assert "Use it instead of signing in with a code?" in reused.stderr and "no browser needed" in reused.stderr
    assert "On any device" not in reused.stderr
    assert cache.read_session(demo_broker.url) == first

    approved = _approve_device_codes(demo_broker, monkeypatch, demo_role("DemoDeveloper"))
    fresh = run("login", "--device", "--yes")
    assert fresh.exit_code == 0, fresh.output
    assert "Signing in anew with a code, as --device asks" in fresh.stderr
    assert "On any device, open" in fresh.stderr and "Device approved" in approved["page"].body
    second = cache.read_session(demo_broker.url)
    assert second is not None and second.refresh_token != first.refresh_token
    with demo_broker.runtime.db.transaction() as session:  # the replaced session ended at the broker
        assert sorted(row.revoked_at is None for row in session.query(models.CliSession)) == [False, True]
    assert len(fake.urls) == 1


def test_write_config_shows_the_diff_and_writes_the_section(
    home: Path, demo_broker: LiveBroker, browser: Callable[..., FakeBrowser]
) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir()
    config.write_text("# mine\n[default]\nregion = eu-west-1\n")
    fake = browser(role=demo_role("DemoDeveloper"))
    printed = run("login", "--url", demo_broker.url, "--profile", "dev")
    fake.join()
    assert printed.exit_code == 0
    shown = "".join(f"  {line}\n" if line else "\n" for line in config_snippet("dev", demo_broker.url).splitlines())
    assert shown in printed.stderr  # not written without being asked
    assert "python3 -m broker" not in printed.stderr and "broker login --write-config" in printed.stderr
    assert config.read_text() == "# mine\n[default]\nregion = eu-west-1\n"

    written = run("login", "--profile", "dev", "--write-config")
    assert written.exit_code == 0, written.output
    assert "+credential_process = broker credential-process --profile dev" in written.stderr
    assert f"+  endpoint_url = {demo_broker.url}" in written.stderr
    assert config.read_text() == "# mine\n[default]\nregion = eu-west-1\n\n" + config_snippet("dev", demo_broker.url)
    assert (home / ".aws" / "config.bak").read_text() == "# mine\n[default]\nregion = eu-west-1\n"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    parsed = configparser.RawConfigParser()
    parsed.read(config)
    assert parsed["profile dev"]["region"] == "us-east-1"
    quiet = run("login", "--profile", "dev")
    assert quiet.exit_code == 0 and "credential_process" not in quiet.stderr  # already there: nothing shown


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_on_a_terminal_and_sparse_lines_in_a_log() -> None:
    terminal = _Terminal()
    shown = waiting.Progress(terminal)
    shown.update("Waiting for the sign-in in the browser", 299.2)
    shown.update("Waiting for the sign-in in the browser", 61)
    shown.done()
    assert terminal.getvalue() == (
        "\r\x1b[KWaiting for the sign-in in the browser: 5:00 left (Ctrl-C to cancel)"
        "\r\x1b[KWaiting for the sign-in in the browser: 1:01 left (Ctrl-C to cancel)\r\x1b[K"
    )
    now = [0.0]
    log = io.StringIO()
    plain = waiting.Progress(log, every=30, clock=lambda: now[0])
    for second in range(0, 65, 5):
        now[0] = float(second)
        plain.update("Waiting", 300 - second)
    plain.done()
    assert log.getvalue().splitlines() == [
        "Waiting: 5:00 left (Ctrl-C to cancel)",
        "Waiting: 4:30 left (Ctrl-C to cancel)",
        "Waiting: 4:00 left (Ctrl-C to cancel)",
    ]


def test_ctrl_c_while_waiting_for_the_browser_ends_with_130_and_one_line(home: Path, demo_broker: LiveBroker) -> None:
    waiting_login = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker.cli.main",
            "login",
            "--url",
            demo_broker.url,
            "--profile",
            "dev",
            "--no-browser",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        preexec_fn=interruptible,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert waiting_login.stderr is not None
    seen: list[str] = []
    for line in waiting_login.stderr:
        seen.append(line)
        if line.startswith("Waiting for the sign-in in the browser: 5:00 left"):
            break
    waiting_login.send_signal(signal.SIGINT)
    stdout, rest = waiting_login.communicate(timeout=30)
    assert waiting_login.returncode == 130
    assert stdout == ""
    assert rest == "broker: sign-in cancelled (Ctrl-C); nothing was stored\n"
    assert "Traceback" not in "".join(seen) + rest
    assert cache.read_credentials("dev") is None


def test_ctrl_c_in_any_command_exits_130_without_a_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("broker.cli.credential_commands.fresh_credentials", interrupted)
    assert main(["env", "--profile", "dev"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "broker: cancelled (Ctrl-C)" and "Traceback" not in err
