"""/healthz (alive, no I/O) and /readyz (the database reachable and migrated, keys loaded)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import script

from broker.services.health import ReadinessProbe, readiness
from broker.services.runtime import Runtime
from broker.store import db
from broker.web.app import create_app
from tests.store.iam.test_providers import url_fetched
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


def test_a_database_without_the_schema_is_not_ready(
    tmp_path: Path, keys_dir: Path, database_url: str, base_url: str
) -> None:
    runtime = Runtime.from_settings(make_settings(tmp_path, keys_dir, database_url, base_url))  # no `broker init`
    try:
        ready = create_app(runtime=runtime).test_client().get("/readyz")
        assert ready.status_code == 503
        assert ready.json["checks"] == {"database": "no broker schema: run `broker init`", "keys": "ok"}  # type: ignore[index]
    finally:
        runtime.db.dispose()


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


# -- what a probe costs: /readyz is open to anyone and not rate-limited -------------------------


@contextmanager
def statements(rt: Runtime) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    sa.event.listen(rt.db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(rt.db.engine, "before_cursor_execute", record)


def test_the_migration_scripts_are_read_once_per_process(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    class Counted(script.ScriptDirectory):
        def __init__(self, *args: object, **kwargs: object) -> None:
            built.append("ScriptDirectory")
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(script, "ScriptDirectory", Counted)
    db.newest_revision.cache_clear()
    for _ in range(5):
        assert readiness(rt).checks["database"] == "ok"
    assert built == ["ScriptDirectory"]


def test_a_check_is_two_small_queries(rt: Runtime) -> None:
    url_fetched(rt, "corp", "other")
    readiness(rt)  # warm
    with statements(rt) as sent:
        assert readiness(rt).checks == {"database": "ok", "keys": "ok", "metadata": "ok"}
    queries = [statement for statement in sent if not statement.startswith("BEGIN")]
    assert len(queries) == 2, queries
    assert "BEGIN IMMEDIATE" not in sent  # reads only: no SQLite write lock


def test_the_metadata_check_reads_no_metadata_document(rt: Runtime) -> None:
    url_fetched(rt, "corp")
    with statements(rt) as sent:
        readiness(rt)
    assert not [s for s in sent if "saml_providers.metadata_xml" in s or "saml_providers.options" in s]


def test_a_busy_sqlite_writer_does_not_hold_up_the_check(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str
) -> None:
    rt = make_runtime(make_settings(tmp_path, keys_dir, sqlite_url, base_url))
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a long write transaction holds SQLite's write lock
        started = time.monotonic()
        assert readiness(rt).checks["database"] == "ok"
        assert time.monotonic() - started < 5  # not the 30 s busy timeout
    finally:
        writer.rollback()
        writer.close()
        rt.db.dispose()


def test_readyz_reuses_an_answer_for_a_second(rt: Runtime) -> None:
    now = [100.0]
    app = create_app(runtime=rt)
    app.extensions["broker.readiness"] = ReadinessProbe(rt, clock=lambda: now[0])
    client = app.test_client()
    with statements(rt) as sent:
        assert client.get("/readyz").status_code == 200
        asked = len(sent)
        with rt.db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
        del sent[asked:]
        now[0] = 100.9
        assert [client.get("/readyz").status_code for _ in range(20)] == [200] * 20
        assert len(sent) == asked  # answered from memory: no statement
    now[0] = 101.0
    assert client.get("/readyz").status_code == 503  # then asked again


def test_the_app_answers_readyz_through_the_probe(rt: Runtime) -> None:
    client = create_app(runtime=rt).test_client()
    with statements(rt) as sent:
        assert client.get("/readyz").status_code == 200
        asked = len(sent)
        assert client.get("/readyz").status_code == 200  # milliseconds later
    assert asked and len(sent) == asked
