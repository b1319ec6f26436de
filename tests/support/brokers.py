"""Build broker runtimes and running servers for tests: settings, keys, databases, live HTTP."""

from __future__ import annotations

import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.settings import Settings
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
    runtime = Runtime.from_settings(settings)
    initialise(runtime)
    return runtime


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
