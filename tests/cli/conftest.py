"""CLI tests: a private HOME, XDG dirs and AWS files per test; a live demo-mode broker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.cli import _runtime
from broker.demo.setup import prepare_demo, seed_demo
from broker.services.runtime import Runtime
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings

DEMO_ACCOUNT = "123456789012"


def demo_role(name: str) -> str:
    return f"arn:aws:iam::{DEMO_ACCOUNT}:role/demo/{name}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME with the XDG and AWS file locations inside it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def demo_broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    workdir = tmp_path / "broker"
    workdir.mkdir()
    settings = make_settings(
        workdir, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}", demo=True
    )
    runtime = Runtime.from_settings(settings)
    prepare_demo(runtime)
    runtime.db.dispose()
    runtime = make_runtime(settings)
    seed_demo(runtime)
    with LiveBroker(runtime, port) as live:
        yield live


def cli_runtimes_on(clock: Callable[[], dt.datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtimes the `broker` command builds read ``clock``, so "later" is the test's to decide."""
    build = _runtime.runtime

    def runtime_on_clock(ctx: Any) -> Runtime:
        built = build(ctx)
        built.clock = clock
        return built

    monkeypatch.setattr(_runtime, "runtime", runtime_on_clock)
