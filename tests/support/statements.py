"""Statements counted where they reach the database driver, whatever sent them (the ORM,
SQLAlchemy Core or a driver connection used directly): the hot-path tests and benchmarks count
with it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.pool import Pool

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "PRAGMA")
_recorders: list[tuple[int, list[str], bool]] = []  # (thread, statements, with control) while a block records


def _heard(statement: str) -> None:
    me = threading.get_ident()
    for thread, seen, control in _recorders:
        if thread == me and (control or not statement.lstrip().upper().startswith(_CONTROL)):
            seen.append(" ".join(statement.split()))


class _HeardCursor(psycopg.Cursor[Any]):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        _heard(query if isinstance(query, str) else repr(query))
        return super().execute(query, params, **kwargs)


def _listen_to_driver(dbapi_connection: Any, _record: object) -> None:
    """Every connection the pools open hears what its driver is given: SQLite's trace callback
    reports each statement it runs; a psycopg connection makes its cursors (the ORM's and those
    of ``Connection.execute``) a kind that reports each execute."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.set_trace_callback(_heard)
    else:
        dbapi_connection.cursor_factory = _HeardCursor


@contextmanager
def listening_to_drivers() -> Iterator[None]:
    """While open, every connection any pool opens is heard (open it before the runtime is made:
    connections opened earlier are not)."""
    event.listen(Pool, "connect", _listen_to_driver)
    try:
        yield
    finally:
        event.remove(Pool, "connect", _listen_to_driver)


@contextmanager
def request_statements(*, control: bool = False) -> Iterator[list[str]]:
    """The statements sent to the database from this thread (transaction control aside, unless
    ``control``) while the block runs, heard at the driver: whether a statement goes through the
    ORM, SQLAlchemy Core or a driver connection directly, it is counted."""
    seen: list[str] = []
    entry = (threading.get_ident(), seen, control)
    _recorders.append(entry)
    try:
        yield seen
    finally:
        _recorders.remove(entry)
