"""Generation counters move with every change to cached data, in its transaction, and only then.

A cache entry is trusted while the stamp it was stored under is current, so a change that does
not bump a counter is a stale decision waiting to happen: each way the store changes IAM and
organization data (ORM rows new, changed and deleted; association rows; bulk statements) is
shown to bump, and bookkeeping (a key's or role's last use) and rolled-back work shown not to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update

from broker.store import models
from broker.store.auth import record_key_use
from broker.store.db import Database, ReadOnlyViolation, driver_read
from broker.store.federation import mark_role_used
from broker.store.generations import EVERYWHERE, Stamp, stamp, unchanged
from broker.store.iam.accounts import ensure_account

ACCOUNT = "123456789012"
OTHER = "210987654321"
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    with database.transaction() as tx:
        ensure_account(tx, ACCOUNT, "main", NOW)
        ensure_account(tx, OTHER, "other", NOW)
    try:
        yield database
    finally:
        database.dispose()


def current(db: Database, account: str = ACCOUNT) -> Stamp:
    with db.read() as tx:
        found = stamp(tx, account)
        assert found is not None
        return found


def add_user(db: Database, name: str, account: str = ACCOUNT) -> None:
    with db.transaction() as tx:
        tx.add(
            models.User(
                account_id=account,
                name=name,
                name_key=name.lower(),
                user_id=f"AIDA{name.upper():0<17}"[:21],
                arn=f"arn:aws:iam::{account}:user/{name}",
                created_at=NOW,
            )
        )


def test_orm_changes_bump_their_account_only(db: Database) -> None:
    before, elsewhere = current(db), current(db, OTHER)
    add_user(db, "alice")
    after = current(db)
    assert after.account == before.account + 1 and after.everywhere == before.everywhere
    assert current(db, OTHER) == elsewhere  # another account's caches stay warm
    with db.transaction() as tx:  # a changed column
        user = tx.query(models.User).filter_by(name="alice").one()
        user.tags = {"team": "blue"}
    assert current(db).account == after.account + 1
    with db.transaction() as tx:  # a deleted row
        tx.delete(tx.query(models.User).filter_by(name="alice").one())
    assert current(db).account == after.account + 2


def test_bulk_statements_bump_everywhere_unless_bookkeeping(db: Database) -> None:
    add_user(db, "bob")
    with db.transaction() as tx:
        user = tx.query(models.User).filter_by(name="bob").one()
        tx.add(
            models.AccessKey(access_key_id="AKIAGENERATIONTEST01", user_pk=user.id, secret_sealed="x", created_at=NOW)
        )
    before = current(db)
    with db.transaction() as tx:  # a key's last use: bookkeeping, no cache holds it
        record_key_use(tx, "AKIAGENERATIONTEST01", NOW, "sts", "us-east-1")
    assert current(db) == before
    with db.transaction() as tx:  # ...but its status is what authentication caches
        tx.execute(update(models.AccessKey).values(status="Inactive"))
    assert current(db).everywhere == before.everywhere + 1
    with db.transaction() as tx:
        tx.execute(delete(models.AccessKey))
    assert current(db).everywhere == before.everywhere + 2


def test_a_role_marked_used_bumps_nothing(db: Database) -> None:
    with db.transaction() as tx:
        tx.add(
            models.Role(
                account_id=ACCOUNT,
                name="r",
                name_key="r",
                role_id="AROAGENERATIONTEST01",
                arn=f"arn:aws:iam::{ACCOUNT}:role/r",
                trust_policy="{}",
                created_at=NOW,
            )
        )
    before = current(db)
    with db.transaction() as tx:
        mark_role_used(tx, "AROAGENERATIONTEST01", NOW, "us-east-1")
    assert current(db) == before


def test_rolled_back_changes_bump_nothing_and_a_changing_transaction_gets_no_stamp(db: Database) -> None:
    before = current(db)

    class Abandon(Exception):
        pass

    def change_then_fail() -> None:
        with db.transaction() as tx:
            assert stamp(tx, ACCOUNT) == before and unchanged(tx)
            group = models.Group(
                account_id=ACCOUNT,
                name="g",
                name_key="g",
                group_id="AGPAGENERATIONTEST01",
                arn=f"arn:aws:iam::{ACCOUNT}:group/g",
                created_at=NOW,
            )
            tx.add(group)
            # What this transaction reads now includes its own uncommitted change: not cacheable.
            assert stamp(tx, ACCOUNT) is None and not unchanged(tx)
            raise Abandon

    with pytest.raises(Abandon):
        change_then_fail()
    assert current(db) == before


def test_organization_changes_bump_everywhere(db: Database) -> None:
    before = current(db)
    with db.transaction() as tx:
        tx.add(
            models.Organization(id="o-generation1", management_account_id=ACCOUNT, feature_set="ALL", created_at=NOW)
        )
    after = current(db)
    assert after.everywhere == before.everywhere + 1
    assert current(db, OTHER).everywhere == after.everywhere  # every account sees it
    with db.read() as tx:
        assert stamp(tx, EVERYWHERE) is not None


def test_a_read_refuses_to_write(db: Database) -> None:
    with pytest.raises(ReadOnlyViolation), db.read() as tx:
        tx.execute(update(models.Account).values(alias="changed"))
    with db.read() as tx:  # and reads as usual
        assert stamp(tx, ACCOUNT) is not None


def test_a_first_read_and_a_unit_of_work_read_the_same_stamp(db: Database) -> None:
    """A read's stamp comes from a pooled driver connection (its first statement); a unit of work's
    from its own connection. Both see the same counters, before and after a change."""
    for _ in range(2):
        with db.transaction() as tx:
            in_unit_of_work = stamp(tx, ACCOUNT)
        assert in_unit_of_work == current(db)
        add_user(db, f"u{in_unit_of_work.account if in_unit_of_work else 0}")
    with db.read() as tx:
        tx.get(models.Account, ACCOUNT)  # the read holds a connection now: the stamp is read on it
        assert stamp(tx, ACCOUNT) == current(db)


def test_a_statement_the_driver_refuses_falls_back_to_the_ordinary_path(db: Database) -> None:
    assert driver_read(db.engine, "SELECT no_such_column FROM generations", ()) is None
    before = current(db)
    add_user(db, "after-a-refusal")  # the pool still serves, and the discarded connection is gone
    assert current(db).account == before.account + 1
    mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
    rows = driver_read(db.engine, f"SELECT scope, value FROM generations WHERE scope = {mark}", (ACCOUNT,))  # noqa: S608
    assert rows == [(ACCOUNT, before.account + 1)]
