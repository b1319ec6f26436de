"""Liveness and readiness, as load balancers and orchestrators probe them.

``/healthz`` answers from memory: the process is alive and serving. ``/readyz`` checks what a
request needs: the database reachable and at this broker's schema, and the keys loaded. The
answer names each check with a short, fixed phrase (it may be reachable from outside: no
address, URL or driver message); the operator's detail goes to the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from broker.errors import DatabaseUnavailable
from broker.services.runtime import Runtime

log = logging.getLogger("broker.health")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    # Check name -> "ok", or what is wrong.
    checks: dict[str, str]


def readiness(runtime: Runtime) -> Readiness:
    checks = {"database": _database(runtime), "keys": _keys(runtime)}
    return Readiness(all(result == "ok" for result in checks.values()), checks)


def _database(runtime: Runtime) -> str:
    try:
        current, head = runtime.db.schema_revisions()
    except DatabaseUnavailable as exc:
        log.warning("not ready: %s", exc.message)
        return "unreachable"
    except Exception:
        log.exception("not ready: the database check failed")
        return "failing"
    if current is None:
        return "no broker schema: run `broker init`"
    if current != head:
        log.warning("not ready: database schema %s, this broker's %s", current, head)
        return "schema of another broker version: run `broker init` or upgrade"
    return "ok"


def _keys(runtime: Runtime) -> str:
    ring = runtime.keys.token_keys
    return "ok" if ring.current.kid in ring.verification_keys() else "token signing key missing"
