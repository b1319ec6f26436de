"""Build broker runtimes and running servers for tests: settings, keys, databases, live HTTP."""

from __future__ import annotations

import atexit
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, inspect, make_url, text
from werkzeug.serving import make_server

from broker.iam.aws_managed import shipped_policies
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.settings import Settings
from broker.store.db import Database
from broker.store.iam import policies as policy_store
from broker.web.app import create_app

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_schema(server: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh schema on ``server`` (the local PostgreSQL by default), dropped afterwards; the
    URL pins it through search_path. Tests and the benchmarks use it."""
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_settings(workdir: Path, keys_dir: Path, database_url: str, base_url: str, **overrides: object) -> Settings:
    certs = workdir / "certs"
    if not certs.exists():
        shutil.copytree(keys_dir, certs)
    metadata = workdir / "metadata"
    metadata.mkdir(exist_ok=True)
    settings = Settings(base_url=base_url, database_url=database_url, certs_dir=str(certs), metadata_dir=str(metadata))
    return replace(settings, **overrides)  # type: ignore[arg-type]


def make_runtime(settings: Settings) -> Runtime:
    """A runtime on ``settings``, its database set up as `broker init` does.

    A database that does not exist yet starts as a copy of this test process's template (the
    schema at head and the AWS-managed policies, made once), so a test pays for a copy instead
    of a run of every migration; ``initialise`` then runs as it always does and finds the schema
    current. An existing database (a second instance on the same one) is left as it is."""
    _start_from_template(settings.database_url)
    runtime = Runtime.from_settings(settings)
    initialise(runtime)
    return runtime


class _Templates:
    """One template per dialect per test process, made when first asked for; what it holds is
    what every new database gets before any test-specific step (no keys, no clock, no trail)."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._sqlite: Path | None = None
        self._postgres: tuple[str, str, list[str], list[str]] | None = None  # server, schema, ddl, tables

    def _workdir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="broker-template-"))
            atexit.register(self.close)
        return self._dir

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self._workdir() / "template.db"
            _migrate(f"sqlite:///{path}")
            self._sqlite = path
        return self._sqlite

    def postgres(self, server: str) -> tuple[str, list[str], list[str]]:
        if self._postgres is None or self._postgres[0] != server:
            schema = "template_" + uuid.uuid4().hex[:12]
            admin = create_engine(server, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            admin.dispose()
            self._workdir()
            self._postgres = (server, schema, [], [])  # dropped at exit even if the rest fails
            _migrate(f"{server}?options=-csearch_path%3D{schema}")
            self._postgres = (server, schema, _schema_ddl(server, schema), _tables_with_rows(server, schema))
        _, schema, ddl, tables = self._postgres
        return schema, ddl, tables

    def close(self) -> None:
        if self._postgres is not None:
            server, schema = self._postgres[0], self._postgres[1]
            admin = create_engine(server, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            finally:
                admin.dispose()
            self._postgres = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


_TEMPLATES = _Templates()


def _migrate(url: str) -> None:
    """The schema at head and the AWS-managed policies, as `broker init` leaves them."""
    db = Database(url)
    try:
        db.upgrade()
        with db.transaction() as tx:
            policy_store.sync_aws_managed_policies(tx, shipped_policies())
    finally:
        db.dispose()


def _schema_ddl(server: str, schema: str) -> list[str]:
    """The template schema's tables, sequences, indexes and constraints as statements (pg_dump,
    schema only), each naming the schema by a placeholder."""
    url = make_url(server)
    dump = subprocess.run(
        [
            "pg_dump",
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--schema",
            schema,
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            url.database or "test",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in dump.splitlines() if not line.startswith(("--", "\\"))]
    statements = [part.strip() for part in "\n".join(lines).split(";\n")]
    keep = [
        statement.rstrip(";")
        for statement in statements
        if statement and not statement.startswith(("SET ", "SELECT pg_catalog.set_config", "CREATE SCHEMA"))
    ]
    return [statement.replace(f"{schema}.", "{schema}.") for statement in keep]


def _tables_with_rows(server: str, schema: str) -> list[str]:
    engine = create_engine(server)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names(schema=schema)
            return [
                name
                for name in names
                if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{name}")')).scalar()  # noqa: S608
            ]
    finally:
        engine.dispose()


_SEARCH_PATH = re.compile(r"options=-csearch_path%3D([A-Za-z0-9_]+)")


def _start_from_template(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if url.database and url.database != ":memory:" and not path.exists():
            source = sqlite3.connect(_TEMPLATES.sqlite())
            target = sqlite3.connect(path)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        return
    found = _SEARCH_PATH.search(database_url)
    if url.get_backend_name() != "postgresql" or found is None:
        return
    schema = found.group(1)
    server = database_url.split("?", 1)[0]
    engine = create_engine(server)
    try:
        with engine.begin() as conn:
            if inspect(conn).get_table_names(schema=schema):
                return
            template, ddl, tables = _TEMPLATES.postgres(server)
            conn.exec_driver_sql(";\n".join(ddl).replace("{schema}.", f"{schema}."))  # one round trip
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # rows first, keys later
            for table in tables:
                conn.exec_driver_sql(f'INSERT INTO "{schema}"."{table}" SELECT * FROM "{template}"."{table}"')  # noqa: S608
            sequences = conn.execute(
                text(
                    "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = :s AND last_value IS NOT NULL"
                ),
                {"s": template},
            ).all()
            for name, value in sequences:
                conn.exec_driver_sql(f'SELECT setval(\'"{schema}"."{name}"\', {int(value)})')
    finally:
        engine.dispose()


class LiveBroker:
    """The broker app on a threaded WSGI server on 127.0.0.1, in a background thread.

    werkzeug's server rather than gunicorn: it shuts down at once, so a test does not wait.
    """

    def __init__(self, runtime: Runtime, port: int) -> None:
        self.runtime = runtime
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_app(runtime=runtime)
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveBroker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.runtime.db.dispose()
