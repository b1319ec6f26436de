"""The schema comes from Alembic migrations and matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from broker.store import models
from broker.store.db import MIGRATIONS_DIR, Database


def _head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_create_the_models_schema_and_rerun_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.upgrade()
        db.upgrade()  # idempotent: already at head
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, models.Base.metadata)
            assert context.get_current_revision() == _head_revision()
        assert differences == []
        assert {"accounts", "roles", "saml_providers", "seen_assertions", "audit_events"} <= set(
            inspect(db.engine).get_table_names()
        )
    finally:
        db.dispose()


def test_times_round_trip_as_aware_utc(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    moment = dt.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    try:
        with db.transaction() as session:
            session.add(models.Account(id="111122223333", alias=None, created_at=moment))
        with db.transaction() as session:
            account = session.get(models.Account, "111122223333")
            assert account is not None
            assert account.created_at == moment
            assert account.created_at.tzinfo == dt.UTC
    finally:
        db.dispose()


def test_naive_datetimes_are_refused(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    try:
        with db.transaction() as session:
            session.add(models.Account(id="111122223333", created_at=dt.datetime(2026, 1, 1)))
            with pytest.raises(Exception, match="naive"):
                session.flush()
            session.rollback()
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        with db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        db.dispose()
