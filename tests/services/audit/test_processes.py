"""Real `broker serve` processes: killed with SIGKILL mid-burst, and two writing one database at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from sqlalchemy import func, select

from broker.services.runtime import Runtime
from broker.services.setup import AdminCredentials, bootstrap_admin
from broker.store.models import AuditDigest, AuditEvent, User
from tests.services.audit.support import cli_env, run_cli, verify
from tests.support.brokers import free_port

FAST = botocore.config.Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=10, tcp_keepalive=False
)


class Server:
    """``python -m broker.cli.main serve`` on a free port, with digests every second."""

    def __init__(self, runtime: Runtime, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
        env.update(cli_env(runtime))
        env.update({"BROKER_AUDIT_DIGEST_INTERVAL_SECONDS": "1", "BROKER_LOG_LEVEL": "WARNING"})
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "broker.cli.main", "serve", "--port", str(self.port), "--threads", "8"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,  # its own process group: the master and its workers die together
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"broker serve did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)

    def client(self, admin: AdminCredentials) -> Any:
        return boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=admin.access_key_id,
            aws_secret_access_key=admin.secret_access_key,
            config=FAST,
        )

    def kill(self) -> None:
        """SIGKILL to every process of the broker at once, as a crash or `docker kill` does: a
        worker that outlived its master would finish its requests and hide what a crash loses."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._log.close()


@contextmanager
def serving(runtime: Runtime, log: Path) -> Iterator[Server]:
    server = Server(runtime, log)
    try:
        yield server
    finally:
        server.stop()


def burst(
    server: Server,
    admins: list[AdminCredentials],
    prefix: str,
    per_worker: int | None,
    under_way: threading.Event | None = None,
) -> tuple[set[str], set[str]]:
    """Create users from a thread per administrator until ``per_worker`` each, or until the server is gone.

    Each thread signs with its own key: calls with one key serialize on its last-used update,
    and the point is to have appends race for the chain head. ``under_way`` is set once a few
    calls were answered. Returns (acknowledged, attempted).
    """
    acknowledged: set[str] = set()
    attempted: set[str] = set()
    lock = threading.Lock()

    def work(worker: int) -> None:
        iam = server.client(admins[worker])
        number = 0
        while per_worker is None or number < per_worker:
            name = f"{prefix}-{worker}-{number}"
            number += 1
            with lock:
                attempted.add(name)
            try:
                iam.create_user(UserName=name)
            except Exception:  # the server was killed under us
                return
            with lock:
                acknowledged.add(name)
                if under_way is not None and len(acknowledged) >= UNDER_WAY:
                    under_way.set()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(len(admins))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return acknowledged, attempted


# Answered calls after which a burst counts as under way (the crash test kills the server then).
UNDER_WAY = 20


def admins(runtime: Runtime, count: int) -> list[AdminCredentials]:
    return [bootstrap_admin(runtime, f"admin-{number}") for number in range(count)]


def created_users(runtime: Runtime, prefix: str) -> tuple[set[str], set[str]]:
    """(users in the database, users with a successful CreateUser event) under ``prefix``."""
    with runtime.db.transaction() as session:
        users = set(session.scalars(select(User.name).where(User.name.like(f"{prefix}-%"))))
        records = session.scalars(
            select(AuditEvent.record).where(
                AuditEvent.event_name == "CreateUser",
                AuditEvent.event_source == "iam.amazonaws.com",
                AuditEvent.error_code.is_(None),
            )
        )
        audited = {r["requestParameters"]["userName"] for r in records}
    return users, {name for name in audited if name.startswith(f"{prefix}-")}


def test_a_broker_killed_mid_burst_loses_no_event_and_breaks_no_chain(audit_runtime: Runtime, tmp_path: Path) -> None:
    admin = bootstrap_admin(audit_runtime)
    log = tmp_path / "serve.log"
    first = Server(audit_runtime, log)
    crew = admins(audit_runtime, 4)
    under_way = threading.Event()

    def kill_mid_burst() -> None:
        # Killed once the burst is answering, however slowly it started, and while it goes on:
        # a fixed delay from the start killed it before its first answer on a loaded machine.
        under_way.wait(60)
        time.sleep(0.3)
        first.kill()

    try:
        killer = threading.Thread(target=kill_mid_burst)
        killer.start()
        acknowledged, attempted = burst(first, crew, "crash", per_worker=None, under_way=under_way)
        killer.join()
    finally:
        first.stop()
    assert first.process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= UNDER_WAY, "the burst was killed before it started"

    with serving(audit_runtime, log) as second:
        users, audited = created_users(audit_runtime, "crash")
        assert acknowledged <= users <= attempted
        assert users == audited  # every committed change has its event, and no event lacks its change
        second.client(admin).create_user(UserName="after-restart")  # the chain goes on
        deadline = time.monotonic() + 10
        while True:  # the new process's worker seals what the dead one left
            with audit_runtime.db.transaction() as session:
                covered = session.scalar(select(func.max(AuditDigest.last_index))) or 0
                last = session.scalar(select(func.max(AuditEvent.chain_index))) or 0
            if covered >= last or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    report = verify(audit_runtime)
    assert report.ok, [f.line() for f in report.findings]
    assert covered >= last
    assert run_cli(audit_runtime, "audit", "verify").exit_code == 0


def test_two_brokers_writing_at_once_keep_one_chain(audit_runtime: Runtime, tmp_path: Path) -> None:
    keys = admins(audit_runtime, 8)
    log = tmp_path / "serve.log"
    with serving(audit_runtime, log) as one, serving(audit_runtime, log) as two:
        results: dict[str, tuple[set[str], set[str]]] = {}
        threads = [
            threading.Thread(target=lambda s=server, p=prefix, k=half: results.__setitem__(p, burst(s, k, p, 12)))
            for server, prefix, half in ((one, "one", keys[:4]), (two, "two", keys[4:]))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        time.sleep(1.2)  # both workers race for the next digests too
    for prefix in ("one", "two"):
        acknowledged, _ = results[prefix]
        assert len(acknowledged) == 48
        users, audited = created_users(audit_runtime, prefix)
        assert users == audited == acknowledged
    with audit_runtime.db.transaction() as session:
        indexes = list(session.scalars(select(AuditEvent.chain_index).order_by(AuditEvent.chain_index)))
        digests = list(session.scalars(select(AuditDigest.digest_index).order_by(AuditDigest.digest_index)))
    assert indexes == list(range(1, len(indexes) + 1))  # no gap, no fork
    assert digests == list(range(1, len(digests) + 1)) and len(digests) >= 2
    report = verify(audit_runtime)
    assert report.ok, [f.line() for f in report.findings]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
