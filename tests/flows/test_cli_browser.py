"""`broker login` end to end: the CLI as a subprocess, headless Chromium as the person, SimpleSAMLphp
as the IdP, boto3 and the AWS CLI as the consumers of the credentials."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from broker.services.cli_auth import device
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.browser import chromium_page
from tests.support.interop import register, role_arn, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp, login

pytestmark = [pytest.mark.simplesamlphp, pytest.mark.browser]
BROKER = [sys.executable, "-m", "broker.cli.main"]
AWS = str(Path(sys.executable).with_name("aws"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[LiveBroker]:
    workdir = tmp_path_factory.mktemp("cli-broker")
    port = free_port()
    settings = make_settings(workdir, keys_dir, f"sqlite:///{workdir / 'broker.db'}", f"http://127.0.0.1:{port}")
    with (
        LiveBroker(make_runtime(settings), port) as live,
        SimpleSamlPhpIdp(live.runtime.sp.metadata_xml, users()) as idp,
    ):
        register(live.runtime, idp.metadata_xml())
        yield live


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """The environment of a person with an empty home directory."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
    }


@pytest.fixture
def terminal(home: dict[str, str]) -> Iterator[type[Terminal]]:
    """Start `broker` commands in the background; any still running at the end are stopped."""
    started: list[Terminal] = []

    class Started(Terminal):
        def __init__(self, args: list[str], env: dict[str, str] = home) -> None:
            super().__init__(args, env)
            started.append(self)

    yield Started
    for running in started:
        running.close()


class Terminal:
    """A `broker` command running in the background, its stderr read line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*BROKER, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stderr is not None
        stderr = self.process.stderr
        self.reader = threading.Thread(target=lambda: [self.lines.put(line) for line in stderr], daemon=True)
        self.reader.start()

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no {pattern!r} on stderr; saw: {''.join(self.seen)}")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        assert self.process.stdout is not None
        self.process.wait(timeout=timeout)
        stdout = self.process.stdout.read()
        self.reader.join(timeout=5)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        self.close()
        return self.process.returncode, stdout

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def broker_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BROKER, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_browser_sign_in_then_credential_process_feeds_boto3(
    broker: LiveBroker, home: dict[str, str], terminal: type[Terminal]
) -> None:
    cli = terminal(["login", "--url", broker.url, "--profile", "eng", "--no-browser", "--timeout", "60"])
    url = cli.wait_for(r"(http://\S+/cli/authorize\?\S+)").group(1)
    with chromium_page() as page:
        page.goto(url)
        login(page, "dave", "davepw")
        # The consent page: who is signed in, through which IdP, where the code goes; nothing sent yet.
        page.wait_for_selector("#consent-form")
        assert page.inner_text("#subject") == "dave"
        assert re.fullmatch(r"127\.0\.0\.1:\d+", page.inner_text("#redirect-address"))
        page.get_by_label("Engineer", exact=False).first.check()
        page.get_by_role("button", name="Allow and send credentials").click()
        page.wait_for_selector("#result")
        assert page.inner_text("#result") == "Signed in"
        assert "close this tab" in page.inner_text("#message")
    status, stdout = cli.finish()
    assert status == 0, "".join(cli.seen)
    assert "Profile eng: arn:aws:sts::123456789012:assumed-role/Engineer/dave" in stdout

    printed = broker_command(home, "credential-process", "--profile", "eng")
    assert printed.returncode == 0 and printed.stderr == ""
    credentials = json.loads(printed.stdout)
    assert credentials["Version"] == 1
    identity = boto3.client(
        "sts",
        endpoint_url=broker.url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/Engineer/dave"

    # Another role of the same sign-in, for another profile: the broker session, no browser.
    again = broker_command(
        home,
        "login",
        "--url",
        broker.url,
        "--profile",
        "admin",
        "--role",
        role_arn("Admin"),
        "--no-browser",
        "--timeout",
        "5",
    )
    assert again.returncode == 0, again.stderr
    assert "no browser needed" in again.stderr and "/cli/authorize" not in again.stderr
    whoami = broker_command(home, "whoami", "--profile", "admin")
    assert "arn:aws:sts::123456789012:assumed-role/Admin/dave" in whoami.stdout


def test_the_aws_cli_runs_credential_process_from_a_generated_config(
    broker: LiveBroker, home: dict[str, str], terminal: type[Terminal]
) -> None:
    cli = terminal(["login", "--url", broker.url, "--profile", "admin", "--role", role_arn("Admin"), "--no-browser"])
    url = cli.wait_for(r"(http://\S+/cli/authorize\?\S+)").group(1)
    with chromium_page() as page:
        page.goto(url)
        login(page, "alice", "alicepw")
        # The role is given and permitted: the page shows it, and still waits for the click.
        page.wait_for_selector("#consent-form")
        assert page.inner_text("#role-name") == "Admin"
        assert cli.process.poll() is None
        page.click("#approve")
        page.wait_for_selector("#result")
    status, _ = cli.finish()
    assert status == 0, "".join(cli.seen)
    hint = "".join(cli.seen)
    assert "credential_process = " in hint and "--profile admin" in hint

    config = Path(home["AWS_CONFIG_FILE"])
    config.parent.mkdir(exist_ok=True)
    command = " ".join(BROKER)
    config.write_text(
        f"[profile admin]\ncredential_process = {command} credential-process --profile admin\n"
        f"endpoint_url = {broker.url}\nregion = us-east-1\n"
    )
    done = subprocess.run(
        [AWS, "sts", "get-caller-identity", "--profile", "admin", "--output", "json"],
        env=home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Arn"] == "arn:aws:sts::123456789012:assumed-role/Admin/alice"


def test_device_flow_with_the_code_typed_in_chromium(
    broker: LiveBroker, home: dict[str, str], terminal: type[Terminal], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device, "DEVICE_POLL_INTERVAL", 1)
    cli = terminal(["login", "--url", broker.url, "--profile", "eng", "--device"])
    verification_uri = cli.wait_for(r"open (http://\S+/cli/device/verify) and enter").group(1)
    user_code = cli.wait_for(r"^\s+([B-Z]{4}-[B-Z]{4})\s*$").group(1)
    with chromium_page() as page:
        page.goto(verification_uri)
        login(page, "dave", "davepw")
        page.wait_for_selector("#user-code")
        page.fill("#user-code", user_code.lower())
        page.click("#continue")
        page.wait_for_selector("#role-form")
        assert page.inner_text("#user-code") == user_code
        page.get_by_label("Engineer", exact=False).first.check()
        page.click("#approve")
        page.wait_for_selector("#device-result")
        assert page.inner_text("#device-result") == "Device approved"
    status, stdout = cli.finish()
    assert status == 0, "".join(cli.seen)
    assert "assumed-role/Engineer/dave" in stdout
    printed = json.loads(broker_command(home, "credential-process", "--profile", "eng").stdout)
    assert printed["AccessKeyId"].startswith("ASIA")
