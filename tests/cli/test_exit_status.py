"""Exit statuses of the `broker` command, through `main()` and the installed script as a shell sees them.

`broker exec` exits with its command's status, and points only the APIs the broker serves at it:
the real AWS CLI calls STS at the broker and S3 where S3 lives.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker import __version__
from broker.cli import cache, shell
from broker.cli.main import main
from broker.cli.profiles import Profile, save_profile
from broker.cli.role_choice import ROLE_PROMPT
from tests.cli.conftest import demo_role
from tests.cli.demo_browser import DemoBrowser
from tests.cli.test_login_flow import FakeBrowser
from tests.support.brokers import LiveBroker
from tests.support.signals import interruptible

BROKER_SCRIPT = Path(sys.executable).parent / "broker"
AWS_CLI = Path(sys.executable).parent / "aws"
URL = "https://sso.example.com"


@pytest.fixture
def cached_profile(home: Path) -> str:
    """A profile whose cached credentials have an hour left: exec and env need no broker."""
    save_profile(Profile(name="dev", url=URL))
    cache.write_credentials(
        "dev",
        cache.Credentials(
            access_key_id="ASIAEXAMPLEEXAMPLE01",
            secret_access_key="s" * 40,
            session_token="token.value.sig",
            expiration=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            role_arn="arn:aws:iam::123456789012:role/Engineer",
            assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Engineer/dave",
            account_id="123456789012",
            region="eu-west-1",
            url=URL,
        ),
    )
    return "dev"


@pytest.mark.parametrize("status", [0, 1, 3, 42, 255])
def test_exec_exits_with_the_commands_status(cached_profile: str, status: int) -> None:
    code = f"import sys; sys.exit({status})"
    assert main(["exec", "--profile", cached_profile, "--", sys.executable, "-c", code]) == status


def test_exec_reports_a_signal_as_a_shell_does(cached_profile: str) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert main(["exec", "--profile", cached_profile, "--", sys.executable, "-c", code]) == 128 + 15


@pytest.mark.parametrize("separator", [[], ["--"]])
def test_options_after_the_command_are_the_commands_own(
    cached_profile: str, capfd: pytest.CaptureFixture[str], separator: list[str]
) -> None:
    save_profile(Profile(name="prod", url=URL))  # a --profile taken by broker would sign in as prod
    code = "import os, sys; print(sys.argv[1:], os.environ['AWS_ACCESS_KEY_ID'])"
    argv = ["exec", "--profile", cached_profile, *separator, sys.executable, "-c", code, "--profile", "prod", "-x"]
    assert main(argv) == 0, capfd.readouterr().err
    assert capfd.readouterr().out == "['--profile', 'prod', '-x'] ASIAEXAMPLEEXAMPLE01\n"


# A command that needs a moment to clean up when asked to stop, and then exits 7.
STOPPING_CHILD = """
import os, signal, sys, time
from pathlib import Path
trail = Path(sys.argv[1])
def stop(number, frame):
    trail.write_text(f"{os.getpid()} got {number}")
    time.sleep(1)
    trail.write_text(f"{os.getpid()} got {number}, cleaned up")
    sys.exit(7)
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(number, stop)
trail.write_text(f"{os.getpid()} ready")
time.sleep(30)
trail.write_text(f"{os.getpid()} never stopped")
"""
# broker as a terminal starts it: its own process group, Ctrl-C not ignored (a test runner may
# have started us with SIGINT ignored, which its children would inherit).
AS_AT_A_TERMINAL = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from broker.cli.main import main; sys.exit(main())"
)


@pytest.mark.parametrize(
    ("number", "to_the_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=["ctrl-c", "sigterm-to-broker", "sighup-to-broker"],
)
def test_a_signal_lets_the_command_clean_up_and_broker_exits_with_its_status(
    cached_profile: str, tmp_path: Path, number: signal.Signals, to_the_group: bool
) -> None:
    trail = tmp_path / "trail"
    argv = ["exec", "--profile", cached_profile, "--", sys.executable, "-c", STOPPING_CHILD, str(trail)]
    broker = subprocess.Popen(
        [sys.executable, "-c", AS_AT_A_TERMINAL, *argv], start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not (trail.exists() and trail.read_text().endswith("ready")):
            assert time.monotonic() < deadline and broker.poll() is None, broker.stderr and broker.stderr.read()
            time.sleep(0.05)
        if to_the_group:
            os.killpg(broker.pid, number)  # what Ctrl-C at a terminal does
        else:
            os.kill(broker.pid, number)  # what kill, systemd or a CI timeout does
        assert broker.wait(timeout=20) == 7, broker.stderr and broker.stderr.read()
        assert trail.read_text().endswith(f"got {number.value}, cleaned up")
    finally:
        if broker.poll() is None:
            broker.kill()
        if trail.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(trail.read_text().split()[0]), signal.SIGKILL)
        broker.wait()
        if broker.stderr:
            broker.stderr.close()


def test_a_command_the_kernel_cannot_run_is_one_line(
    cached_profile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "no-shebang.sh"
    script.write_text("echo hello\n")
    script.chmod(0o755)
    assert main(["exec", "--profile", cached_profile, "--", str(script)]) == 1
    err = capsys.readouterr().err
    assert err == f"broker: cannot run {script}: Exec format error (a script needs a #! line naming its interpreter)\n"


def test_the_installed_script_passes_the_status_to_the_shell(cached_profile: str) -> None:
    ran = subprocess.run(
        [str(BROKER_SCRIPT), "exec", "--profile", cached_profile, "--", "sh", "-c", "exit 5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 5, ran.stderr
    version = subprocess.run([str(BROKER_SCRIPT), "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout == f"broker {__version__}\n"


def test_exec_and_env_point_only_the_brokers_services_at_it(
    cached_profile: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://elsewhere.example")  # must not leak into the child
    dump = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AWS_')}))"
    assert main(["exec", "--profile", cached_profile, "--", sys.executable, "-c", dump]) == 0
    seen = json.loads(capfd.readouterr().out)
    assert "AWS_ENDPOINT_URL" not in seen
    assert {k: v for k, v in seen.items() if k.startswith("AWS_ENDPOINT_URL_")} == {
        "AWS_ENDPOINT_URL_IAM": URL,
        "AWS_ENDPOINT_URL_STS": URL,
        "AWS_ENDPOINT_URL_ORGANIZATIONS": URL,
        "AWS_ENDPOINT_URL_CLOUDTRAIL": URL,
    }
    assert seen["AWS_DEFAULT_REGION"] == "eu-west-1"

    assert main(["env", "--profile", cached_profile, "--format", "json"]) == 0
    exported = json.loads(capfd.readouterr().out)
    assert "AWS_ENDPOINT_URL" not in exported
    assert exported["AWS_ENDPOINT_URL_STS"] == URL and exported["AWS_SESSION_TOKEN"] == "token.value.sig"
    assert exported["AWS_DEFAULT_REGION"] == "eu-west-1"  # the AWS CLI refuses to run without one
    monkeypatch.setenv("AWS_REGION", "ap-south-1")  # a region the shell already has is kept
    assert main(["env", "--profile", cached_profile, "--format", "json"]) == 0
    assert "AWS_DEFAULT_REGION" not in json.loads(capfd.readouterr().out)


def test_a_stale_security_token_is_dropped_and_a_profile_variable_does_not_win(
    cached_profile: str, home: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore reads AWS_SECURITY_TOKEN before AWS_SESSION_TOKEN; AWS_PROFILE names a profile with keys of its own.
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "OLD-TOKEN-OF-EARLIER-CREDENTIALS")
    monkeypatch.setenv("AWS_PROFILE", "other")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = x\n")
    signed_with = (
        "import botocore.session; c = botocore.session.get_session().get_credentials();"
        "print(c.access_key, c.token, c.method)"
    )
    assert main(["exec", "--profile", cached_profile, "--", sys.executable, "-c", signed_with]) == 0
    assert capfd.readouterr().out == "ASIAEXAMPLEEXAMPLE01 token.value.sig env\n"

    assert main(["env", "--profile", cached_profile]) == 0
    exported = capfd.readouterr().out
    assert exported.startswith("unset AWS_SECURITY_TOKEN\nunset AWS_ENDPOINT_URL\n")
    after_eval = subprocess.run(
        ["bash", "-c", 'eval "$1"; echo "${AWS_SECURITY_TOKEN-unset} $AWS_SESSION_TOKEN"', "-", exported],
        capture_output=True,
        text=True,
        check=True,
    )
    assert after_eval.stdout == "unset token.value.sig\n"


def test_long_lived_keys_in_the_credentials_file_are_neither_replaced_nor_deleted(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = home / ".aws" / "credentials"
    shared.parent.mkdir()
    mine = "[dev]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI\n"
    shared.write_text(mine)
    # Refused before any sign-in: the broker at this URL is never reached.
    assert main(["login", "--url", URL, "--profile", "dev", "--write-aws-credentials", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"broker: [dev] in {shared} holds long-lived access keys"), err
    save_profile(Profile(name="dev", url=URL, write_aws_credentials=True))
    assert main(["logout", "--profile", "dev"]) == 0
    assert f"left [dev] in {shared} as it is" in capsys.readouterr().err
    assert shared.read_text() == mine


def test_the_endpoint_variables_name_every_service_the_broker_serves() -> None:
    from broker.services.api.registry import SERVICES

    assert {s.lower() for s in shell.BROKER_SERVICES} == set(SERVICES)


@pytest.mark.parametrize(
    ("argv", "status", "stderr"),
    [
        (["--version"], 0, ""),
        (["--help"], 0, ""),
        (["no-such-command"], 2, "No such command"),
        (["exec", "--profile", "dev"], 2, "Missing argument"),
        (["exec", "--profile", "nobody", "--", "true"], 1, "broker: no profile 'nobody'"),
        (["exec", "--profile", "dev", "--", "no-such-program-here"], 1, "broker: command not found"),
        (["env", "--profile", "dev", "--format", "csh"], 2, "Invalid value"),
        (["env", "--profile", "nobody"], 1, "broker: no profile"),
        (["credential-process", "--profile", "nobody"], 1, "broker: no profile"),
        (["whoami", "--profile", "nobody"], 1, "broker: no profile"),
        (["env", "--profile", "../x"], 1, "broker: "),
    ],
)
def test_exit_statuses(
    cached_profile: str, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, stderr: str
) -> None:
    assert main(argv) == status
    err = capsys.readouterr().err
    assert stderr in err
    assert "Traceback" not in err


def test_credentials_and_env_succeed_with_a_live_profile(
    cached_profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["credential-process", "--profile", cached_profile]) == 0
    assert json.loads(capsys.readouterr().out)["Version"] == 1
    assert main(["env", "--profile", cached_profile, "--format", "fish"]) == 0
    assert "set -gx AWS_ENDPOINT_URL_IAM 'https://sso.example.com';" in capsys.readouterr().out


class ConnectRecorder:
    """An HTTPS proxy on 127.0.0.1 that records where each CONNECT goes and refuses it: traffic
    meant for AWS itself shows up here and never leaves the machine."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.targets: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    first = conn.recv(4096).decode("latin-1").split("\r\n", 1)[0]
                except OSError:
                    continue
                self.targets.append(first)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def connect_recorder() -> Iterator[ConnectRecorder]:
    recorder = ConnectRecorder()
    yield recorder
    recorder.close()


def test_the_aws_cli_reaches_sts_at_the_broker_and_s3_elsewhere(
    home: Path,
    demo_broker: LiveBroker,
    monkeypatch: pytest.MonkeyPatch,
    connect_recorder: ConnectRecorder,
    capfd: pytest.CaptureFixture[str],
) -> None:
    person = DemoBrowser(user="bob", password="bob-demo")
    fake = FakeBrowser(lambda url: person.authorize(url, demo_role("DemoDeveloper"), "approve"))
    monkeypatch.setattr(webbrowser, "open", fake.open)
    assert main(["login", "--url", demo_broker.url, "--profile", "dev"]) == 0
    fake.join()
    capfd.readouterr()

    # Anything not for the broker goes through the recorder; the broker on 127.0.0.1 is reached directly.
    proxy = f"http://127.0.0.1:{connect_recorder.port}"
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("PATH", f"{AWS_CLI.parent}{os.pathsep}{os.environ['PATH']}")

    assert main(["exec", "--profile", "dev", "--", "aws", "sts", "get-caller-identity", "--output", "json"]) == 0
    identity = json.loads(capfd.readouterr().out)
    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/DemoDeveloper/")
    assert connect_recorder.targets == []

    status = main(["exec", "--profile", "dev", "--", "aws", "s3", "ls", "--cli-connect-timeout", "5"])
    err = capfd.readouterr().err
    assert status == 255, err  # the AWS CLI's own status for a failed call, passed through
    assert demo_broker.url not in err
    assert connect_recorder.targets and all(".amazonaws.com:443" in t for t in connect_recorder.targets)
    assert connect_recorder.targets[0].startswith("CONNECT s3.")


class AtPrompt:
    """`broker` (the installed script) with a terminal for stdin, read until it asks ``question``;
    killed, if it still runs, when the block ends."""

    def __init__(self, argv: list[str], question: str) -> None:
        self.argv = [str(BROKER_SCRIPT), *argv]
        self.question = question.encode()
        self.said = b""

    def __enter__(self) -> AtPrompt:
        self.terminal, stdin = pty.openpty()  # a prompt is only put to a terminal
        self.process = subprocess.Popen(
            self.argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ,
            preexec_fn=interruptible,
        )
        os.close(stdin)
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        while not self.said.rstrip().endswith(self.question):
            ready, _, _ = select.select([self.process.stderr], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.process.stderr.fileno(), 4096) if ready else b""
            assert chunk, f"no {self.question!r} before the end: {self.said.decode()}"
            self.said += chunk
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()
        os.close(self.terminal)

    def _waiting_for_input(self) -> None:
        """Until the process sleeps in its read of the answer: a signal sent between the prompt's
        write and that read is only seen once the read returns (a person would press Ctrl-C again)."""
        stat = Path(f"/proc/{self.process.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "S":
            assert time.monotonic() < deadline, "the process never waited for the answer"
            time.sleep(0.01)

    def end(self, how: str) -> tuple[int, str, str]:
        """Ctrl-C (SIGINT, as the terminal sends it) or the end of input (^D); the status and what followed."""
        self._waiting_for_input()
        if how == "ctrl-c":
            self.process.send_signal(signal.SIGINT)
        else:
            os.write(self.terminal, b"\x04")
        stdout, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize(
    ("how", "status", "message"),
    [
        ("ctrl-c", 130, "broker: cancelled (Ctrl-C)\n"),
        ("eof", 1, "broker: aborted: the input ended before the question was answered\n"),
    ],
)
@pytest.mark.parametrize("prompt", ["role", "write-config"])
def test_ctrl_c_at_a_prompt_exits_130_and_the_end_of_input_1(
    home: Path,
    demo_broker: LiveBroker,
    monkeypatch: pytest.MonkeyPatch,
    prompt: str,
    how: str,
    status: int,
    message: str,
) -> None:
    person = DemoBrowser(user="bob", password="bob-demo")
    fake = FakeBrowser(lambda url: person.authorize(url, demo_role("DemoDeveloper"), "approve"))
    monkeypatch.setattr(webbrowser, "open", fake.open)
    assert main(["login", "--url", demo_broker.url, "--profile", "dev"]) == 0  # a broker session, no config
    fake.join()
    if prompt == "role":  # a new profile without --role: which of bob's roles?
        waiting = AtPrompt(["login", "--url", demo_broker.url, "--profile", "ro"], f"{ROLE_PROMPT}:")
        shown = f"  2. {demo_role('DemoReadOnly')}  ("
    else:  # the profile again at a terminal: the ~/.aws/config section is offered
        waiting = AtPrompt(["login", "--profile", "dev"], "[Y/n]:")
        shown = "+credential_process = broker credential-process --profile dev"
    with waiting:
        assert shown in waiting.said.decode()
        returned, stdout, stderr = waiting.end(how)
    assert returned == status
    assert stderr == "\n" + message  # the prompt's line ended, then one line
    assert "Traceback" not in waiting.said.decode() + stderr
    if prompt == "role":
        assert stdout == "" and cache.read_credentials("ro") is None
    else:
        assert stdout.startswith("Profile dev: ") and not (home / ".aws" / "config").exists()
