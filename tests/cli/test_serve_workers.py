"""`broker serve --workers N`: real processes on loopback, SQLite and PostgreSQL.

Which worker served a request is read from the operating system (the worker processes that
hold the established connections), not from anything the broker would have to expose.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from broker.cli.main import cli
from broker.services.runtime import Runtime
from broker.settings import SettingsError, load_settings
from broker.store.audit.digests import latest_digest
from broker.store.audit.events import newest_index, records_named
from broker.web.server import without_forwarding_headers
from tests.support.aws import UNCHECKED
from tests.support.brokers import free_port
from tests.support.served import Served, broker_env, serving


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "broker.cli.main", *args]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _workers(served: Served, count: int) -> set[int]:
    """The worker processes, once all ``count`` are forked (the arbiter forks them one by one)."""
    deadline = time.monotonic() + 30
    while len(workers := _children(served.process.pid)) < count:
        assert time.monotonic() < deadline, served.stderr()
        time.sleep(0.1)
    assert len(workers) == count, served.stderr()
    return workers


def _established_on(port: int) -> set[int]:
    """Socket inodes of the connections accepted on ``port`` that are open right now."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rpartition(":")[2], 16)
            if local_port == port and fields[3] == "01":
                inodes.add(int(fields[9]))
    return inodes


def _holders(pids: set[int], inodes: set[int]) -> set[int]:
    """Which of ``pids`` hold one of those sockets."""
    holding = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if any(link.startswith("socket:[") and int(link[8:-1]) in inodes for link in links):
            holding.add(pid)
    return holding


@pytest.fixture
def admin_env(tmp_path: Path, keys_dir: Path, database_url: str) -> tuple[dict[str, str], dict[str, str], int]:
    port = free_port()
    env = broker_env(tmp_path, keys_dir, database_url, port)
    runner = CliRunner()
    initialised = runner.invoke(cli, ["init"], env=env)
    assert initialised.exit_code == 0, initialised.output
    made = runner.invoke(cli, ["bootstrap-admin"], env=env)
    assert made.exit_code == 0, made.output
    return env, json.loads(made.stdout), port


def _sts(served: Served, admin: dict[str, str]) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id=admin["AccessKeyId"],
        aws_secret_access_key=admin["SecretAccessKey"],
        config=UNCHECKED,
    )


def _forge_forwarding_headers(request: Any, **_: Any) -> None:
    request.headers["X-Forwarded-For"] = "203.0.113.9"
    request.headers["X-Forwarded-Proto"] = "https"


def _served_by(served: Served, workers: set[int], connections: int = 16) -> set[int]:
    """Open keep-alive connections at once, answer a request on each, and see who holds them."""
    opened = [http.client.HTTPConnection("127.0.0.1", served.port, timeout=10) for _ in range(connections)]
    try:
        for connection in opened:
            connection.connect()
        for connection in opened:
            connection.request("GET", "/healthz")
        for connection in opened:
            response = connection.getresponse()
            assert response.status == 200
            response.read()
        return _holders(workers, _established_on(served.port))
    finally:
        for connection in opened:
            connection.close()


def test_two_workers_serve_sigv4_and_stop_cleanly(
    tmp_path: Path, admin_env: tuple[dict[str, str], dict[str, str], int]
) -> None:
    env, admin, port = admin_env
    with serving(env, port, tmp_path / "serve.log", "--workers", "2") as served:
        workers = _workers(served, 2)

        sts = _sts(served, admin)
        # Unsigned (added after signing): with trusted_proxy_hops = 0, the default, a client's
        # X-Forwarded-* reaches nothing (as with waitress, which dropped them before the app).
        sts.meta.events.register("before-send.sts.GetCallerIdentity", _forge_forwarding_headers)
        identity = sts.get_caller_identity()
        assert identity["Arn"] == f"arn:aws:iam::{admin['AccountId']}:user/admin"
        assert identity["Account"] == admin["AccountId"]

        serving_pids: set[int] = set()
        for _ in range(20):
            serving_pids |= _served_by(served, workers)
            if serving_pids == workers:
                break
        assert serving_pids == workers  # every worker answered some of the requests

        runtime = Runtime.from_settings(load_settings(environ=env))
        try:
            with runtime.db.transaction() as tx:
                events_before_stop = newest_index(tx)
            assert events_before_stop > 0

            served.process.send_signal(signal.SIGTERM)
            assert served.process.wait(timeout=60) == 0, served.stderr()
            assert _children(served.process.pid) == set()
            assert not any(Path(f"/proc/{pid}").exists() for pid in workers)

            with runtime.db.transaction() as tx:
                digest = latest_digest(tx)
                newest = newest_index(tx)
                calls = list(records_named(tx, "GetCallerIdentity"))
        finally:
            runtime.db.dispose()
    # The workers sealed what they had written: the newest digest covers the newest event.
    assert digest is not None and newest >= events_before_stop
    assert digest.last_index == newest, served.stderr()
    assert [call["sourceIPAddress"] for call in calls] == ["127.0.0.1"]
    log = served.stderr()
    assert "Traceback" not in log
    assert "broker listening on" in log
    assert "threads running in the arbiter" not in log


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigint_stops_every_process_gracefully(
    tmp_path: Path, admin_env: tuple[dict[str, str], dict[str, str], int]
) -> None:
    """Ctrl-C in a terminal signals the whole process group: arbiter and workers."""
    env, _, port = admin_env
    env = {**env, "BROKER_WORKERS": "2", "BROKER_THREADS": "2"}  # the settings, not the options
    with serving(env, port, tmp_path / "serve.log") as served:
        workers = _workers(served, 2)
        for pid in (served.process.pid, *workers):
            os.kill(pid, signal.SIGINT)
        assert served.process.wait(timeout=60) == 0, served.stderr()
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
        assert "Traceback" not in served.stderr()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_port_in_use_is_one_line_and_non_zero(
    tmp_path: Path, admin_env: tuple[dict[str, str], dict[str, str], int]
) -> None:
    env, _, port = admin_env
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            _command("serve", "--port", str(port), "--workers", "2"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"broker: cannot listen on 127.0.0.1:{port}: the address is already in use (is another broker running?)\n"
    )


def test_worker_and_thread_counts_are_settings() -> None:
    settings = load_settings(environ={"BROKER_WORKERS": "4", "BROKER_THREADS": "16"})
    assert (settings.workers, settings.threads) == (4, 16)
    assert (load_settings(environ={}).workers, load_settings(environ={}).threads) == (1, 8)
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"BROKER_WORKERS": "0", "BROKER_THREADS": "1000"})
    assert raised.value.problems == ["workers: must be 1..64, got 0", "threads: must be 1..256, got 1000"]


def test_forwarding_headers_never_reach_the_app_without_trusted_proxies() -> None:
    seen: dict[str, object] = {}

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen.update(environ)
        return []

    environ = {f"HTTP_{name}": "x" for name in ("X_FORWARDED_FOR", "X_FORWARDED_PROTO", "FORWARDED", "X_REAL_IP")}
    without_forwarding_headers(app)(environ, lambda *_: None)
    assert set(seen) == {"HTTP_X_REAL_IP"}
