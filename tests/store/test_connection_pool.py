"""The connection pool: sized to the threads that use it, and no round trip spent checking a
connection in steady use.

A pool smaller than the worker's threads opened and closed a connection for every request past
its size (on PostgreSQL a new backend each time), and pool_pre_ping spent a round trip on every
checkout. Both are counted here, not timed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from broker.settings import Settings, validate
from broker.store import db as db_module
from broker.store.db import Database

THREADS = 6
READS_PER_THREAD = 40


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=THREADS)
    try:
        yield database
    finally:
        database.dispose()


def _connects(database: Database) -> list[int]:
    opened: list[int] = []
    event.listen(database.engine, "connect", lambda *_args: opened.append(1))
    return opened


def _read_concurrently(database: Database, threads: int) -> None:
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            start.wait()
            for _ in range(READS_PER_THREAD):
                with database.read() as tx:
                    assert tx.execute(text("SELECT 1")).scalar() == 1
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    workers = [threading.Thread(target=reader) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures, failures


def test_threads_up_to_the_pool_size_reuse_their_connections(database: Database) -> None:
    opened = _connects(database)
    _read_concurrently(database, THREADS)
    # Each thread holds at most one connection at a time: never more opened than threads, however
    # many reads they make (a connection per read would be 240).
    assert 1 <= len(opened) <= THREADS


def test_a_connection_in_steady_use_is_not_pinged(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[int] = []
    real_ping = database.engine.dialect.do_ping

    def counting_ping(connection: Any) -> bool:
        pings.append(1)
        return real_ping(connection)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counting_ping)
    for _ in range(20):
        with database.read() as tx:
            tx.execute(text("SELECT 1"))
    assert pings == []


def test_an_idle_connection_that_died_is_replaced_before_use(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.read() as tx:
        tx.execute(text("SELECT 1"))
    opened = _connects(database)
    # Every returned connection now counts as idle, and the server "went away" meanwhile.
    monkeypatch.setattr(db_module, "_PING_AFTER_IDLE_SECONDS", 0.0)
    pings: list[int] = []

    def dead_once(_connection: Any) -> bool:
        pings.append(1)
        return len(pings) > 1

    monkeypatch.setattr(database.engine.dialect, "do_ping", dead_once)
    with database.read() as tx:
        assert tx.execute(text("SELECT 1")).scalar() == 1
    # The dead connection was thrown away and a new one opened, invisibly to the caller.
    assert len(pings) == 1
    assert len(opened) == 1


def test_the_pool_follows_the_worker_threads_unless_set() -> None:
    from broker.services.runtime import pool_size_for

    assert pool_size_for(Settings(threads=8)) == 12
    assert pool_size_for(Settings(threads=8, database_pool_size=30)) == 30
    assert any("database_pool_size" in problem for problem in validate(Settings(database_pool_size=-1)))
