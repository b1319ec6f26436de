"""Alembic environment: runs on the connection handed in by Database.upgrade, or on the URL.

Offline (``alembic upgrade --sql``, or ``command.upgrade(..., sql=True)``) it writes the SQL the
migrations would run, values inline, for the dialect of ``sqlalchemy.url``; no database is opened.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from broker.store.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run()
