"""Persistence: SQLAlchemy models, migrations and the queries services call."""

from broker.store import generations as _generations  # noqa: F401  (installs the change hooks)
from broker.store.db import Database, Tx

__all__ = ["Database", "Tx"]
