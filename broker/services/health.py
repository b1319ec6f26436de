"""Liveness and readiness, as load balancers and orchestrators probe them.

``/healthz`` answers from memory: the process is alive and serving. ``/readyz`` checks what a
request needs: the database reachable and at this broker's schema (or a newer one, during a
rolling upgrade), and the keys loaded. The
answer names each check with a short, fixed phrase (it may be reachable from outside: no
address, URL or driver message); the operator's detail goes to the log.

The ``metadata`` check (present once a provider is) reports providers whose metadata is fetched from a URL: ``ok``, or
``degraded:`` naming those whose last fetch failed (``refresh failing``) and those whose
metadata's validUntil has passed (``expired``: sign-ins through them are refused). It never
makes the broker unready: one IdP's trouble must not take every other sign-in (and the IAM and
STS APIs) out of the load balancer.

Anyone may ask, as often as they like (probes are not rate-limited), so an answer costs two small
queries (the schema's revision; the fetch state of URL-fetched providers, never their documents)
and :class:`ReadinessProbe` reuses it for a second: a flood of probes costs the database one check
a second per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from broker.errors import DatabaseUnavailable
from broker.services.federation.metadata_refresh import metadata_status
from broker.services.runtime import Runtime

log = logging.getLogger("broker.health")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    # Check name -> "ok", or what is wrong.
    checks: dict[str, str]


def readiness(runtime: Runtime) -> Readiness:
    checks = {"database": _database(runtime), "keys": _keys(runtime)}
    ready = all(result == "ok" for result in checks.values())
    metadata = _metadata(runtime) if checks["database"] == "ok" else None
    if metadata is not None:
        checks["metadata"] = metadata
    return Readiness(ready, checks)


# How long /readyz reuses an answer, seconds: well under any load balancer's probe interval.
READINESS_REUSE_SECONDS: Final = 1.0


class ReadinessProbe:
    """:func:`readiness`, computed at most once per :data:`READINESS_REUSE_SECONDS`; requests
    arriving meanwhile, or while it is computed, get the same answer."""

    def __init__(
        self,
        runtime: Runtime,
        reuse_seconds: float = READINESS_REUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._reuse_seconds = reuse_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: Readiness | None = None
        self._until = 0.0

    def __call__(self) -> Readiness:
        # Held while computing: concurrent probes wait for one check instead of each running it.
        with self._lock:
            if self._answer is None or self._clock() >= self._until:
                self._answer = readiness(self._runtime)
                self._until = self._clock() + self._reuse_seconds
            return self._answer


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
    if current < head:  # revisions are numbered in order
        log.warning("not ready: database schema %s, this broker's %s", current, head)
        return "schema of another broker version: run `broker init` or upgrade"
    # A newer schema: an upgrade ran while this broker serves. Migrations only add, so it stays
    # ready until it is replaced (a rolling upgrade); `broker serve` refuses to start on it.
    return "ok"


def _keys(runtime: Runtime) -> str:
    ring = runtime.keys.token_keys
    return "ok" if ring.current.kid in ring.verification_keys() else "token signing key missing"


def _metadata(runtime: Runtime) -> str | None:
    """None when no provider's metadata is fetched from a URL (nothing to report)."""
    try:
        statuses = metadata_status(runtime)
    except Exception:
        log.exception("the metadata check failed")
        return "failing"
    if not statuses:
        return None
    expired = [s.name for s in statuses if s.expired]
    failing = [s.name for s in statuses if s.failing and not s.expired]
    problems = []
    if expired:
        problems.append(f"expired ({', '.join(expired)})")
    if failing:
        problems.append(f"refresh failing ({', '.join(failing)})")
    return f"degraded: {'; '.join(problems)}" if problems else "ok"
