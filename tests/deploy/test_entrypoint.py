"""The container's start-up, run on the host: docker/entrypoint.sh and docker/nginx/start.sh.

The build machines have no Docker, so these tests run the same two scripts the images run,
with the same environment variables: a one-shot set-up job that makes the shared keys, two
broker instances that start together on one PostgreSQL database, and Debian's nginx in front
of them with the configuration compose uses (TLS, forwarded headers, buffering).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from tests.support.brokers import free_port, postgres_schema

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
NGINX_START = ROOT / "docker" / "nginx" / "start.sh"
VENV_BIN = Path(sys.executable).parent
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def base_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "NGINX_"))}
    (tmp_path / "metadata").mkdir(exist_ok=True)
    return {
        **env,
        "PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        "BROKER_DATABASE_URL": database_url,
        "BROKER_CERTS_DIR": str(tmp_path / "certs"),
        "BROKER_METADATA_DIR": str(tmp_path / "metadata"),
        "BROKER_DATABASE_WAIT_SECONDS": "5",
        **extra,
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=180)


def wait_for(port: int, process: subprocess.Popen[bytes], log: Path, tls: bool = False) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if tls:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                    with context.wrap_socket(sock) as wrapped:
                        wrapped.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        if wrapped.recv(64).startswith(b"HTTP/1.1 200"):
                            return
                else:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"port {port} never answered:\n{log.read_text()}")


class Processes:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def database_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def test_serve_refuses_to_start_without_the_shared_keys(tmp_path: Path, database_url: str) -> None:
    result = run(base_env(tmp_path, database_url))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"broker: missing key files in {tmp_path / 'certs'}/")
    assert not (tmp_path / "certs").exists() or not any((tmp_path / "certs").iterdir())


def test_an_unreachable_database_is_waited_for_then_named(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    env = base_env(tmp_path, url, BROKER_GENERATE_KEYS="1", BROKER_DATABASE_WAIT_SECONDS="2")
    started = time.monotonic()
    result = run(env, "setup")
    assert result.returncode == 1
    assert time.monotonic() - started >= 2  # it waited before giving up
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("broker: cannot connect to the database postgresql+psycopg://postgres@127.0.0.1:")
    assert lines[-1] == "broker: gave up waiting 2s for the database"
    assert "Traceback" not in result.stderr


def test_sigterm_stops_the_wait_when_the_entrypoint_is_pid_1(tmp_path: Path) -> None:
    # In the container the script is PID 1, and PID 1 ignores signals it has no handler for:
    # `docker stop` during the database wait went unheard until the grace period's SIGKILL.
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    env = base_env(tmp_path, url, BROKER_GENERATE_KEYS="1", BROKER_DATABASE_WAIT_SECONDS="60")
    namespace = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", str(ENTRYPOINT), "setup"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        pid_1 = None
        while pid_1 is None and time.monotonic() < deadline:
            children = Path(f"/proc/{namespace.pid}/task/{namespace.pid}/children").read_text().split()
            pid_1 = int(children[0]) if children else None
            time.sleep(0.1)
        assert pid_1 is not None
        time.sleep(3)  # into the wait: the database is not there
        assert namespace.poll() is None
        started = time.monotonic()
        os.kill(pid_1, signal.SIGTERM)
        namespace.wait(timeout=20)
        assert time.monotonic() - started < 15
    finally:
        if namespace.poll() is None:
            namespace.kill()
            namespace.wait()


def test_other_commands_pass_through(tmp_path: Path, database_url: str) -> None:
    result = run(base_env(tmp_path, database_url), "--help")
    assert result.returncode == 0
    assert "bootstrap-admin" in result.stdout


def test_two_instances_behind_nginx(tmp_path: Path, database_url: str, processes: Processes) -> None:
    # The one-shot set-up job: shared keys and the schema.
    setup = run(base_env(tmp_path, database_url, BROKER_GENERATE_KEYS="1"), "setup")
    assert setup.returncode == 0, setup.stderr
    assert (tmp_path / "certs" / "token-keys.json").exists()
    assert oct((tmp_path / "certs" / "sp-signing.key").stat().st_mode & 0o777) == "0o600"

    proxy_port, ports = free_port(), [free_port(), free_port()]
    public = f"https://127.0.0.1:{proxy_port}"
    instances = []
    for index, port in enumerate(ports):
        env = base_env(
            tmp_path, database_url, BROKER_PORT=str(port), BROKER_BASE_URL=public, BROKER_TRUSTED_PROXY_HOPS="1"
        )
        log = tmp_path / f"broker-{index}.log"
        instances.append((processes.start(["sh", str(ENTRYPOINT)], env, log), port, log, env))
    for process, port, log, _ in instances:  # both set up at once (taking turns), then serve
        wait_for(port, process, log)

    nginx_env = {
        **base_env(tmp_path, database_url),
        "NGINX_LISTEN": f"127.0.0.1:{proxy_port}",
        "NGINX_SERVER_NAME": "localhost",
        "NGINX_RUN_DIR": str(tmp_path / "nginx"),
        "BROKER_UPSTREAM_1": f"127.0.0.1:{ports[0]}",
        "BROKER_UPSTREAM_2": f"127.0.0.1:{ports[1]}",
    }
    nginx_log = tmp_path / "nginx.log"
    nginx = processes.start(["sh", str(NGINX_START)], nginx_env, nginx_log)
    wait_for(proxy_port, nginx, nginx_log, tls=True)
    certificate = str(tmp_path / "nginx" / "dev.crt")

    admin_run = run(instances[0][3], "bootstrap-admin")
    assert admin_run.returncode == 0, admin_run.stderr
    admin = json.loads(admin_run.stdout)

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=public,
            region_name="us-east-1",
            aws_access_key_id=admin["AccessKeyId"],
            aws_secret_access_key=admin["SecretAccessKey"],
            verify=certificate,
            config=NO_RETRIES,
        )

    # Signed calls through nginx (TLS, Host with its port) reach both instances in turn.
    iam = client("iam")
    for index in range(6):
        iam.create_user(UserName=f"through-proxy-{index}")
    names = {user["UserName"] for user in iam.list_users()["Users"]}
    assert {f"through-proxy-{index}" for index in range(6)} <= names
    identity = client("sts").get_caller_identity()
    assert identity["Account"] == admin["AccountId"]

    # The client address the brokers record is the one nginx saw, not one the client wrote.
    def forge(request: Any, **_: Any) -> None:
        request.headers["X-Forwarded-For"] = "203.0.113.9"

    forged = client("iam")
    forged.meta.events.register("before-send.iam.*", forge)  # after signing: an unsigned header
    forged.create_user(UserName="forged-address")
    trail = client("cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "forged-address"}]
    )
    (event,) = [e for e in events["Events"] if e["EventName"] == "CreateUser"]
    recorded = json.loads(event["CloudTrailEvent"])
    assert recorded["sourceIPAddress"] == "127.0.0.1"

    # The SSO portal's bearer header (an underscore) passes nginx and the broker; a spoofed
    # X_Forwarded_For does not (the broker answers that the token is bad, not that none arrived).
    portal = requests.get(
        f"{public}/assignment/accounts",
        headers={"x-amz-sso_bearer_token": "not-a-token", "X_Forwarded_For": "203.0.113.9"},
        verify=certificate,
        timeout=30,
    )
    assert portal.status_code == 401 and portal.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert portal.json() == {"message": "Session token not found or invalid"}
    listed = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ListAccounts"}])
    assert [json.loads(e["CloudTrailEvent"])["sourceIPAddress"] for e in listed["Events"]] == ["127.0.0.1"]

    # One instance stops (SIGTERM, gracefully): the other answers everything meanwhile.
    first, _, first_log, _ = instances[0]
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0, first_log.read_text()
    for index in range(6):
        assert iam.get_user(UserName=f"through-proxy-{index}")["User"]["UserName"] == f"through-proxy-{index}"

    nginx.send_signal(signal.SIGQUIT)  # nginx's graceful stop
    nginx.wait(timeout=30)
    log = "\n".join(path.read_text() for path in (first_log, instances[1][2]))
    assert "Traceback" not in log
