"""SQLite's write-ahead log is copied back from a thread of its own, not inside a request's commit.

By default the commit that takes the log past 1,000 pages runs the checkpoint before it returns,
so about one audited request in a hundred waited 4 to 10 ms for it. A server's worker runs a
``WalCheckpointer`` instead, and the request path keeps SQLite's own checkpoint only as a margin.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from broker.services.runtime import Runtime
from broker.store.db import (
    WAL_AUTOCHECKPOINT_MARGIN_PAGES,
    WAL_AUTOCHECKPOINT_PAGES,
    Database,
    WalCheckpointer,
)
from tests.support.brokers import postgres_schema


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    with database.transaction() as tx:
        tx.execute(text("CREATE TABLE filler (n INTEGER, body TEXT)"))
    try:
        yield database
    finally:
        database.dispose()


def autocheckpoint(database: Database) -> int:
    """What a connection handed out now does: SQLite's PRAGMA, read on it."""
    with database.engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def fill(database: Database, pages: int) -> None:
    """About ``pages`` pages of the log, a commit per 100 rows of 4 KB."""
    for start in range(0, pages, 100):
        with database.transaction() as tx:
            tx.execute(
                text("INSERT INTO filler VALUES (:n, :body)"),
                [{"n": n, "body": "x" * 4000} for n in range(start, start + 100)],
            )


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_connections_checkpoint_in_their_commits_until_a_checkpointer_runs(database: Database) -> None:
    assert autocheckpoint(database) == WAL_AUTOCHECKPOINT_PAGES
    checkpointer = WalCheckpointer(database, interval=0.05).start()
    try:
        # Connections opened from now on leave the checkpoint to the thread, but for the margin.
        assert autocheckpoint(database) == WAL_AUTOCHECKPOINT_MARGIN_PAGES
    finally:
        checkpointer.stop()
    database.engine.pool.dispose()
    assert autocheckpoint(database) == WAL_AUTOCHECKPOINT_PAGES


def test_the_checkpointer_copies_the_log_back_and_no_commit_does(database: Database, tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(database, interval=3600).start()  # ticks by hand below
    try:
        fill(database, 1500)  # past SQLite's 1,000 pages: a commit would have checkpointed
        checkpointer.checkpoint()
        assert checkpointer.last is not None
        busy, logged, copied = checkpointer.last
        # The log still held every page written: no commit copied it back (or it would have
        # started over), and the checkpointer copied all of it.
        assert busy == 0 and logged >= 1500 and copied == logged, checkpointer.last
        fill(database, 100)  # the next writer starts the log over
        checkpointer.checkpoint()
        assert checkpointer.last is not None and 0 < checkpointer.last[1] < logged, checkpointer.last
    finally:
        checkpointer.stop()
    with database.read() as tx:
        assert tx.execute(text("SELECT count(*) FROM filler")).scalar_one() == 1600
    assert (tmp_path / "broker.db").stat().st_size > 1500 * 4000


def test_a_long_read_does_not_hold_writers_back_tick_after_tick(database: Database, sqlite_url: str) -> None:
    checkpointer = WalCheckpointer(database, interval=3600).start()  # ticks by hand below
    reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        fill(database, 100)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM filler").fetchone() == (100,)  # a snapshot on the log
        fill(database, 1100)
        started = time.monotonic()
        checkpointer.checkpoint()  # the restart waits for the reader a short while, then gives up
        assert time.monotonic() - started < 5
        assert checkpointer.last is not None and checkpointer.last[0] == 1, checkpointer.last
        backing_off = checkpointer.restart_after
        assert backing_off > time.monotonic()
        checkpointer.checkpoint()  # within the pause: passive only, no restart tried
        assert checkpointer.last is not None and checkpointer.last[0] == 0
        assert checkpointer.restart_after == backing_off
        fill(database, 10)  # writers go on meanwhile
        reader.execute("COMMIT")
        checkpointer.restart_after = 0.0  # the pause over
        checkpointer.checkpoint()
        assert checkpointer.last is not None and checkpointer.last[0] == 0
        assert checkpointer.restart_after == 0.0  # a restart that finished clears the pause
    finally:
        reader.close()
        checkpointer.stop()


def test_the_thread_checkpoints_every_interval(database: Database) -> None:
    checkpointer = WalCheckpointer(database, interval=0.02).start()
    try:
        fill(database, 100)
        wait_for(lambda: checkpointer.checkpoints >= 3)
        wait_for(lambda: checkpointer.last is not None and checkpointer.last[1] == checkpointer.last[2] > 0)
    finally:
        checkpointer.stop()


def test_stopping_ends_the_thread_and_it_can_start_again(database: Database) -> None:
    checkpointer = WalCheckpointer(database, interval=0.05).start()
    thread = checkpointer._thread
    assert thread is not None and thread.is_alive() and thread.name == "broker-wal-checkpoint"
    checkpointer.stop()
    assert not thread.is_alive()
    again = checkpointer.start()._thread  # and starts again after a stop
    try:
        assert again is not None and again.is_alive() and again is not thread
        wait_for(lambda: checkpointer.checkpoints >= 1)
    finally:
        checkpointer.stop()


@pytest.mark.postgres
def test_on_postgresql_it_starts_nothing() -> None:
    with postgres_schema() as url:
        database = Database(url)
        try:
            checkpointer = WalCheckpointer(database).start()
            assert checkpointer._thread is None
            checkpointer.stop()
        finally:
            database.dispose()


def test_a_runtime_keeps_one_checkpointer(runtime: Runtime) -> None:
    assert runtime.wal_checkpointer is runtime.wal_checkpointer
    runtime.wal_checkpointer.start()
    try:
        assert autocheckpoint(runtime.db) == WAL_AUTOCHECKPOINT_MARGIN_PAGES
    finally:
        runtime.wal_checkpointer.stop()
