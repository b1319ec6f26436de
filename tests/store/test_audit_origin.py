"""The audit trail's origin row and the after-commit hook the digest writer's memory relies on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from broker.store.audit.chain import after_commit
from broker.store.audit.origin import mark_begun, trail_origin
from broker.store.db import Database

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()


def test_the_migration_leaves_the_trail_not_begun_until_it_is_marked(db: Database) -> None:
    with db.transaction() as tx:
        origin = trail_origin(tx)
        assert origin is not None and (origin.genesis_digest_index, origin.began_at) == (None, None)
        mark_begun(tx, 1, NOW)
    with db.transaction() as tx:
        origin = trail_origin(tx)
        assert origin is not None and (origin.genesis_digest_index, origin.began_at) == (1, NOW)


def test_after_commit_runs_on_commit_only(db: Database) -> None:
    ran: list[str] = []
    with db.transaction() as tx:
        after_commit(tx, lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]

    def failing() -> None:
        with db.transaction() as tx:
            after_commit(tx, lambda: ran.append("rolled back"))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing()
    with db.transaction():
        pass  # a later commit runs nothing a rolled-back transaction left behind
    assert ran == ["committed"]
