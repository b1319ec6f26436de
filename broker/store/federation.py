"""Sign-in records the repositories do not cover: opening and ending a browser (web) session, a role's last use.

Lookups, AuthnRequests, replay records and purging are in :mod:`broker.store.repositories`.
"""

from __future__ import annotations

import datetime as dt

from broker.store import models
from broker.store.db import Tx


def add_web_session(tx: Tx, web: models.WebSession) -> None:
    """Keep a browser's sign-in server-side (new web sessions have a random id: no conflict to handle)."""
    tx.add(web)


def delete_web_session(tx: Tx, web: models.WebSession) -> None:
    """End a browser's sign-in; its CLI sessions go with it (ON DELETE CASCADE)."""
    tx.delete(web)


def record_role_use(role: models.Role, now: dt.datetime, region: str) -> None:
    """IAM's ``RoleLastUsed``: when and in which region the role last issued a session."""
    role.last_used_at = now
    role.last_used_region = region
