"""Persistence: SQLAlchemy models, migrations and the queries services call."""

from broker.store.db import Database, Tx
from broker.store import generations as _generations  # noqa: F401,I001  (installs the change hooks)

__all__ = ["Database", "Tx"]
