"""Read-only snapshots of the audit trail for verification, export and tail.

The broker's own transactions start with ``BEGIN IMMEDIATE`` on SQLite (they may write); a
long read under that would hold the write lock and stall every request. These readers open a
plain deferred transaction instead (WAL readers never block writers) and see one consistent
snapshot; on PostgreSQL a read-only ``REPEATABLE READ`` transaction does the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from broker.store.db import Database, Tx


class DatabaseUnreachable(Exception):
    """The database could not be opened or read; ``cause`` names the driver's error class."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def has_audit_trail(db: Database) -> bool:
    """Whether the schema has the audit tables (``broker init`` creates them)."""
    try:
        return inspect(db.engine).has_table("audit_chain_head")
    except SQLAlchemyError as exc:
        raise DatabaseUnreachable(exc.__class__.__name__) from None


class Reader:
    """Opens snapshots on a database; one per command, disposed when done."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._own: Engine | None = None
        if make_url(db.url).get_backend_name() == "sqlite":
            self._own = create_engine(db.url, connect_args={"timeout": 30})

            @event.listens_for(self._own, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.execute("PRAGMA query_only=ON")
                cursor.close()

            @event.listens_for(self._own, "begin")
            def _begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN")

            self._engine: Engine = self._own
        else:
            self._engine = db.engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._own is not None:
            self._own.dispose()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()
