"""Audit tests: a runtime per test on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.services.runtime import Runtime
from tests.support.brokers import make_runtime, make_settings


@pytest.fixture
def audit_runtime(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, "http://127.0.0.1:9"))
    yield runtime
    runtime.db.dispose()
