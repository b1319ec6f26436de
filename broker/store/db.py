"""Engine and session factory; SQLite runs in WAL mode with foreign keys on."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from broker.errors import DatabaseUnavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# One unit of work, as services hold it: they pass it to store functions and never call it.
Tx = Session
_READ_ONLY = "broker_read_only"
log = logging.getLogger("broker.store")

# SQLite's own default: the commit that takes the write-ahead log past this many pages copies it
# back into the database (a checkpoint) before it returns.
WAL_AUTOCHECKPOINT_PAGES = 1000
# With a WalCheckpointer running, the commit that would do so is left a margin this large (about
# 40 MB), reached only if the checkpointer falls far behind.
WAL_AUTOCHECKPOINT_MARGIN_PAGES = 10_000
# A WalCheckpointer starts the log over once it holds this many frames (each a page). The restart
# holds writers back while it waits for readers still on the log, at most this long; when it gives
# up (a long read), it is not tried again for a while, doubling up to the cap, so a long export or
# lookup does not stall writers tick after tick.
_RESTART_AFTER_FRAMES = 1000
_RESTART_WAIT_MS = 10
_RESTART_BACKOFF_SECONDS = (0.5, 10.0)
_BUSY_TIMEOUT_MS = 30_000
# Engines whose checkpoints a WalCheckpointer runs: their new connections take the margin.
_CHECKPOINTED: weakref.WeakSet[Engine] = weakref.WeakSet()


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """``pool_size`` connections stay open; as many again may open for a burst and close after it.
    Size it to the threads that use the engine at once (a connection opened and closed per request
    costs more than the request's own statements)."""
    parsed = make_url(url)
    pooling = {"pool_size": pool_size, "max_overflow": pool_size}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_database_file(Path(database))
        engine = create_engine(url, connect_args={"timeout": 30}, **pooling)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
            # isolation_level None hands transaction control to the events below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            pages = WAL_AUTOCHECKPOINT_MARGIN_PAGES if engine in _CHECKPOINTED else WAL_AUTOCHECKPOINT_PAGES
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
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
        engine = create_engine(url, **pooling)
    _ping_when_idle(engine)
    _refuse_writes_in_reads(engine)
    _unreachable_is_one_line(engine)
    return engine


# A connection unused for this long is checked with a round trip before it is handed out. One in
# steady use is not: a server that went away fails the request in flight on it (answered 503),
# and SQLAlchemy then replaces every pooled connection.
_PING_AFTER_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping's check, only for connections that sat idle: a ping per checkout was a
    round trip per request (and two for an audited one, whose event the writer commits)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: object, record: ConnectionPoolEntry) -> None:
        record.info["broker.returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: object) -> None:
        returned = record.info.get("broker.returned")
        if returned is None or time.monotonic() - returned < _PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"an idle database connection is gone: {exc}") from exc
        if not alive:
            raise DisconnectionError("an idle database connection is gone")


def _private_database_file(database: Path) -> None:
    """Create the SQLite file (and the directory it is in, when missing) readable by its owner only.

    The database holds sealed secrets, session records and the audit trail. SQLite creates the
    ``-wal`` and ``-shm`` files later, whenever a first connection needs them, with the mode of the
    database file itself (its Unix VFS reads that mode and gives it to the files it creates), so a
    database file made 0600 here, before any connection, keeps them 0600 too; no process-wide
    umask is touched (that would race with other threads). A database, ``-wal`` or ``-shm`` file
    that already exists and belongs to this user is narrowed to 0600 (an install from before this
    rule); a directory that exists is left alone (it may be shared, such as ``/tmp``).
    """
    directory = database.parent
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)
        _narrow(directory, 0o700)
    # An existing file is narrowed below; one that cannot be made is SQLite's to report when it opens it.
    with contextlib.suppress(OSError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        _narrow(path, 0o600)


def _narrow(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` if it is ours and grants more; quietly not otherwise."""
    try:
        status = path.stat()
        if status.st_uid == os.geteuid() and status.st_mode & 0o777 & ~mode:
            path.chmod(mode)
    except OSError:
        pass  # absent, or on a file system that refuses: SQLite reports what matters when it opens


_READS = ("SELECT", "WITH", "SHOW", "VALUES", "BEGIN")


def _refuse_writes_in_reads(engine: Engine) -> None:
    """Refuse any statement but a query on a read's connection, before it is sent: a read runs in
    autocommit on PostgreSQL, where the server would take a write, and a write in SQLite's
    deferred transaction would take the write lock a read must never hold."""

    @event.listens_for(engine, "before_cursor_execute")
    def _only_queries(conn: Connection, _cursor: object, statement: str, *_rest: object) -> None:
        if conn.get_execution_options().get(_READ_ONLY) and not statement.lstrip()[:6].upper().startswith(_READS):
            raise ReadOnlyViolation(f"a read-only transaction tried to write: {statement[:80]}")


# pg_advisory_lock key of `broker init` (any fixed 64-bit number; this one spells "broker").
SETUP_LOCK_KEY = 0x62726F6B6572


def _unreachable_is_one_line(engine: Engine) -> None:
    """A database that cannot be connected to becomes :class:`DatabaseUnavailable`: one line
    naming the database (without its password) and the driver's reason, answered 503 by the web
    layer and printed as such by the command line. Errors on a working connection (a busy SQLite
    file, a constraint) pass through unchanged."""

    @event.listens_for(engine, "handle_error")
    def _connect_failed(context: ExceptionContext) -> None:
        if context.connection is not None and not context.is_disconnect:
            return
        if not isinstance(context.original_exception, (sqlite3.OperationalError, *_driver_errors())):
            return
        reason = str(context.original_exception).strip().splitlines()
        detail = reason[0] if reason else type(context.original_exception).__name__
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"cannot connect to the database {where}: {detail}") from context.original_exception


def _driver_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return ()
    return (psycopg.OperationalError,)


def driver_read(engine: Engine, statement: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
    """The rows of one read-only ``statement`` (placeholders in the driver's own style: ``?`` on
    SQLite, ``%s`` on psycopg), sent on a pooled connection's driver outside any transaction.

    For the one statement a warm request sends: without the ORM session, its BEGIN, the statement
    compilation and the close around it, the statement costs its round trip and little else. It
    reads committed data as of its own execution, as every statement of a read does.
    ``None`` when the driver fails on the statement: the connection is discarded and the caller
    sends the statement the ordinary way, which reports the failure as every other query does
    (a database gone is answered 503). Failing to get a connection at all raises as usual."""
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        if engine.dialect.name == "postgresql":
            driver.autocommit = True  # one statement, its own snapshot: no BEGIN and COMMIT round trips
            try:
                return [tuple(row) for row in driver.execute(statement, parameters).fetchall()]
            finally:
                if not driver.closed:
                    driver.autocommit = False
        cursor = driver.cursor()  # SQLite: isolation_level None, so the statement is its own transaction
        try:
            return [tuple(row) for row in cursor.execute(statement, parameters).fetchall()]
        finally:
            cursor.close()
    except _STATEMENT_ERRORS:
        raw.invalidate()
        return None
    finally:
        raw.close()


def _driver_base_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return ()
    return (psycopg.Error,)


_STATEMENT_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, *_driver_base_errors())


@functools.cache
def newest_revision() -> str:
    """The newest migration this code has (alembic reads and compiles every script to tell: ~10 ms)."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head())


class ReadOnlyViolation(RuntimeError):
    """A write attempted inside :meth:`Database.read` (a bug, never a caller's doing)."""


class Database:
    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
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
        # No commit: there is nothing to commit, and closing the session ends its transaction (a
        # rollback, free for a read) as it hands the connection back, one step instead of two.
        with self._reads() as session:
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

    def schema_revisions(self) -> tuple[str | None, str]:
        """The database's migration revision (None: no broker schema) and the newest this code has.

        /readyz asks on every probe: one query in a read (no SQLite write lock), and the newest
        revision read from the migration scripts once per process."""
        from alembic.runtime.migration import MigrationContext
        from sqlalchemy.exc import DBAPIError

        try:
            with self._reads() as session:
                found = session.connection().exec_driver_sql("SELECT version_num FROM alembic_version").all()
            if len(found) == 1:
                return str(found[0][0]), newest_revision()
        except DBAPIError:
            pass  # no such table, most likely: alembic tells (and raises if the database is gone)
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return current, newest_revision()

    @contextmanager
    def setup_lock(self) -> Iterator[None]:
        """Held while `broker init` sets the database up, so instances started together take
        turns instead of racing to create the same tables and rows (PostgreSQL: a session-level
        advisory lock; SQLite: one file on one host, whose writers already take turns)."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({SETUP_LOCK_KEY})")
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({SETUP_LOCK_KEY})")

    def server_time(self) -> dt.datetime:
        """The database server's clock, aware (PostgreSQL: its machine's; SQLite: this one's, in UTC)."""
        with self.engine.connect() as connection:
            value = connection.exec_driver_sql("SELECT CURRENT_TIMESTAMP").scalar()
        if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH:MM:SS", UTC
            value = dt.datetime.fromisoformat(value)
        if not isinstance(value, dt.datetime):
            raise TypeError(f"CURRENT_TIMESTAMP gave {value!r}")
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    def dispose(self) -> None:
        self.engine.dispose()


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log back into the database from a thread of its own.

    An audited request writes about ten pages to the log (its event, the event's indexes, the
    chain head). By default SQLite copies the log back in whichever commit takes it past 1,000
    pages, and that request waits for it: about one audited request in a hundred took 4 to 10 ms
    instead of 0.5 (the p99 of GetCallerIdentity). A server's worker runs this instead, every
    ``interval`` seconds (:meth:`checkpoint`), and the request path keeps SQLite's own checkpoint
    only as a margin (:data:`WAL_AUTOCHECKPOINT_MARGIN_PAGES`) for a checkpointer that falls far
    behind. PostgreSQL has its own checkpointer; on it this does nothing.
    """

    def __init__(self, db: Database, interval: float = 0.1) -> None:
        self._db = db
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        # The last checkpoint's answer: (1 if it could not finish, frames in the log, frames in
        # the database), as SQLite's PRAGMA gives it.
        self.last: tuple[int, int, int] | None = None
        # After a restart that gave up: no other is tried before restart_after (monotonic), and the
        # next pause is restart_pause.
        self.restart_after = 0.0
        self.restart_pause = _RESTART_BACKOFF_SECONDS[0]

    def start(self) -> WalCheckpointer:
        engine = self._db.engine
        if engine.dialect.name != "sqlite" or self._thread is not None:
            return self
        self._stop = threading.Event()
        _CHECKPOINTED.add(engine)
        engine.pool.dispose()  # idle connections reopen with the margin; those in use keep theirs
        self._thread = threading.Thread(target=self._run, name="broker-wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        _CHECKPOINTED.discard(self._db.engine)

    def checkpoint(self) -> None:
        """One checkpoint now: ``PASSIVE`` twice (the first copies what the log gathered since the
        last tick, the second what came meanwhile; neither blocks anyone), then, once the log is
        :data:`_RESTART_AFTER_FRAMES` long, ``RESTART``.

        Under steady writes a passive checkpoint never finds the log fully copied as the next write
        begins, so the log would never start over and would grow to the request path's margin.
        ``RESTART`` holds writers back while it copies the few frames written since the passes and
        waits (at most :data:`_RESTART_WAIT_MS`) for readers still on the log, so that the next
        writer starts the log over. One that gives up backs off (:data:`_RESTART_BACKOFF_SECONDS`).
        """
        raw = self._db.engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            row = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if row is not None and row[1] >= _RESTART_AFTER_FRAMES and time.monotonic() >= self.restart_after:
                row = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                driver.execute(f"PRAGMA busy_timeout={_RESTART_WAIT_MS}")
                try:
                    row = driver.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                finally:
                    driver.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
                self._restarted(row is not None and row[0] == 0)
        finally:
            raw.close()
        self.checkpoints += 1
        if row is not None:
            self.last = (int(row[0]), int(row[1]), int(row[2]))

    def _restarted(self, finished: bool) -> None:
        if finished:
            self.restart_after, self.restart_pause = 0.0, _RESTART_BACKOFF_SECONDS[0]
            return
        self.restart_after = time.monotonic() + self.restart_pause
        self.restart_pause = min(self.restart_pause * 2, _RESTART_BACKOFF_SECONDS[1])

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except Exception:  # a busy or vanished database: the next tick tries again
                log.debug("WAL checkpoint failed; retrying at the next tick", exc_info=True)
