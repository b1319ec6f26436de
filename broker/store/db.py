"""Engine and session factory; SQLite runs in WAL mode with foreign keys on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# One unit of work, as services hold it: they pass it to store functions and never call it.
Tx = Session
_READ_ONLY = "broker_read_only"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
            # isolation_level None hands transaction control to the events below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # A unit of work takes the write lock up front (BEGIN IMMEDIATE), so two processes
            # never deadlock on a read-then-write upgrade. A read (Database.read) begins deferred:
            # under WAL it reads a snapshot and never waits for, or blocks, a writer.
            if conn.get_execution_options().get(_READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        engine = create_engine(url, pool_pre_ping=True)
    _refuse_writes_in_reads(engine)
    return engine


_READS = ("SELECT", "WITH", "SHOW", "VALUES", "BEGIN")


def _refuse_writes_in_reads(engine: Engine) -> None:
    """Refuse any statement but a query on a read's connection, before it is sent: a read runs in
    autocommit on PostgreSQL, where the server would take a write, and a write in SQLite's
    deferred transaction would take the write lock a read must never hold."""

    @event.listens_for(engine, "before_cursor_execute")
    def _only_queries(conn: Connection, _cursor: object, statement: str, *_rest: object) -> None:
        if conn.get_execution_options().get(_READ_ONLY) and not statement.lstrip()[:6].upper().startswith(_READS):
            raise ReadOnlyViolation(f"a read-only transaction tried to write: {statement[:80]}")


class ReadOnlyViolation(RuntimeError):
    """A write attempted inside :meth:`Database.read` (a bug, never a caller's doing)."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if self.engine.dialect.name == "postgresql":
            # Each statement of a READ COMMITTED transaction reads its own snapshot anyway, so
            # a read runs them in autocommit: the same answers without a BEGIN and a COMMIT
            # round trip per request. The guard below keeps it read-only.
            reader = self.engine.execution_options(isolation_level="AUTOCOMMIT", **{_READ_ONLY: True})
        else:
            reader = self.engine.execution_options(**{_READ_ONLY: True})
        self._reads = sessionmaker(reader, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One unit of work: commit on success, roll back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A transaction that only reads: it takes no write lock (SQLite: deferred BEGIN on a WAL
        snapshot; PostgreSQL: autocommit statements, each READ COMMITTED; a write is refused before
        it is sent).
        Authentication, decisions, lookups and page views read this way, side by side."""
        with self._reads() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()
