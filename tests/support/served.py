"""`broker serve` as a real process for tests: started in its own process group, ready once
``/healthz`` answers, and killed whole (master and workers) however the test ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once (their own process group), as a crash or
        `docker kill` does; a worker left behind would linger for its graceful timeout."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def broker_env(tmp_path: Path, keys_dir: Path, database_url: str, port: int) -> dict[str, str]:
    certs = tmp_path / "certs"
    if not certs.exists():
        shutil.copytree(keys_dir, certs)
    (tmp_path / "metadata").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    return {
        **env,
        "BROKER_DATABASE_URL": database_url,
        "BROKER_CERTS_DIR": str(certs),
        "BROKER_METADATA_DIR": str(tmp_path / "metadata"),
        "BROKER_BASE_URL": f"http://127.0.0.1:{port}",
        # Only the digest a worker writes as it stops, so the test can tell it was written.
        "BROKER_AUDIT_DIGEST_INTERVAL_SECONDS": "86400",
    }


def start(env: dict[str, str], port: int, log: Path, *args: str) -> Served:
    """`broker serve` started (its own process group), not yet waited for."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "broker.cli.main", "serve", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    return Served(process, port, env, log)


def wait_ready(served: Served, timeout: float = 60) -> None:
    """Until ``GET /healthz`` answers 200; fails with the server's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", served.port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        assert served.process.poll() is None, served.stderr()
        assert time.monotonic() < deadline, served.stderr()
        time.sleep(0.1)


@contextmanager
def serving(env: dict[str, str], port: int, log: Path, *args: str) -> Iterator[Served]:
    with serving_several([(env, port, log, args)]) as (served,):
        yield served


@contextmanager
def serving_several(specs: list[tuple[dict[str, str], int, Path, tuple[str, ...]]]) -> Iterator[list[Served]]:
    """Several `broker serve` processes started side by side (their start-ups overlap), each
    ``(env, port, log, extra arguments)``; all are killed whole at the end."""
    started: list[Served] = []
    try:
        for env, port, log, args in specs:
            started.append(start(env, port, log, *args))
        for served in started:
            wait_ready(served)
        yield started
    finally:
        for served in started:
            served.kill()  # also any worker a stopped master left behind
