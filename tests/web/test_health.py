"""/healthz (alive, no I/O) and /readyz (the database reachable and migrated, keys loaded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.support.brokers import free_port, make_runtime, make_settings


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url))
    yield runtime
    runtime.db.dispose()


def test_a_set_up_broker_is_alive_and_ready(rt: Runtime) -> None:
    client = create_app(runtime=rt).test_client()
    alive = client.get("/healthz")
    assert (alive.status_code, alive.json["status"]) == (200, "ok")  # type: ignore[index]
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"database": "ok", "keys": "ok"}}
    assert ready.headers["Cache-Control"] == "no-store"


def test_a_schema_behind_the_broker_is_not_ready(rt: Runtime) -> None:
    with rt.db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
    ready = create_app(runtime=rt).test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["status"] == "not ready"  # type: ignore[index]
    assert ready.json["checks"]["database"].startswith("schema of another broker version")  # type: ignore[index]


def test_a_newer_schema_keeps_a_running_broker_ready(rt: Runtime) -> None:
    """A rolling upgrade migrates the database while the old version still serves."""
    with rt.db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    ready = create_app(runtime=rt).test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"]["database"] == "ok"  # type: ignore[index]


def test_an_unreachable_database_is_not_ready_and_the_answer_names_no_address(
    tmp_path: Path, keys_dir: Path, base_url: str
) -> None:
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{free_port()}/test"
    runtime = Runtime.from_settings(make_settings(tmp_path, keys_dir, url, base_url))
    try:
        client = create_app(runtime=runtime).test_client()
        assert client.get("/healthz").status_code == 200  # liveness touches no database
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["checks"] == {"database": "unreachable", "keys": "ok"}  # type: ignore[index]
        assert b"127.0.0.1" not in ready.data and b"secret" not in ready.data
    finally:
        runtime.db.dispose()
