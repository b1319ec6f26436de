"""CLI sign-in records the repositories do not cover: a new authorization request, a new CLI session.

Lookups, atomic consumption and purging of the same tables are in :mod:`broker.store.repositories`.
"""

from __future__ import annotations

from broker.store import models
from broker.store.db import Tx


def add_cli_authorization(tx: Tx, authorization: models.CliAuthorization) -> None:
    tx.add(authorization)


def add_cli_session(tx: Tx, cli_session: models.CliSession) -> None:
    tx.add(cli_session)
