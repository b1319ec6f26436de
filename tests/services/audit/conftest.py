"""Audit tests: a runtime per test on SQLite and on PostgreSQL, at the real time or at a test's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.services.audit.digests import forget_seen_digests
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from tests.services.audit.support import Clock
from tests.support.brokers import make_runtime, make_settings


@pytest.fixture(autouse=True)
def _fresh_process() -> Iterator[None]:
    """Each test starts as a new broker process would: having seen no digest."""
    forget_seen_digests()
    yield
    forget_seen_digests()


@pytest.fixture
def audit_runtime(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, "http://127.0.0.1:9"))
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def clock() -> Clock:
    """30 days ago; a test moves it."""
    return Clock(dt.datetime.now(dt.UTC) - dt.timedelta(days=30))


@pytest.fixture
def clocked_runtime(tmp_path: Path, keys_dir: Path, database_url: str, clock: Clock) -> Iterator[Runtime]:
    """A runtime on ``clock``, set up (`broker init`'s genesis digest included) at its time."""
    settings = make_settings(tmp_path, keys_dir, database_url, "http://127.0.0.1:9")
    runtime = Runtime.from_settings(settings, clock=clock)
    initialise(runtime)
    yield runtime
    runtime.db.dispose()
