"""Persistence: SQLAlchemy models, migrations and the queries services call."""

from broker.store.db import Database, Tx

__all__ = ["Database", "Tx"]
