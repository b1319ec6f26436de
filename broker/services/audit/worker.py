"""The background writer `broker serve` runs: a digest every interval, a purge every hour.

Every broker process runs one; they coordinate through the chain-head lock, so each digest is
written once whichever process gets there first. A failed round is logged and retried on the
next tick; it never stops the server.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import uuid

from broker.services.audit.digests import is_due, write_digest
from broker.services.audit.operator import CLI_ACTOR
from broker.services.audit.retention import PurgeResult, purge_expired
from broker.services.runtime import Runtime
from broker.store.audit.digests import DigestRecord

log = logging.getLogger("broker.audit")
PURGE_EVERY = dt.timedelta(hours=1)


def seal(runtime: Runtime, *, force: bool = True, only_if_pending: bool = False) -> DigestRecord | None:
    """Write a digest now (``force``) or only if the interval has passed; ``only_if_pending``
    skips it when no event came since the last one."""
    settings = runtime.settings
    now = runtime.now()
    with runtime.db.transaction() as tx:
        if not force and not is_due(tx, now, settings.audit_digest_interval_seconds):
            return None
        return write_digest(
            tx,
            runtime.keys.audit_keys,
            account_id=settings.default_account_id,
            region=settings.region,
            now=now,
            interval_seconds=None if force else settings.audit_digest_interval_seconds,
            only_if_pending=only_if_pending,
        )


def purge(runtime: Runtime, *, dry_run: bool = False, retention_days: int | None = None) -> PurgeResult:
    settings = runtime.settings
    with runtime.db.transaction() as tx:
        return purge_expired(
            tx,
            retention_days=settings.audit_retention_days if retention_days is None else retention_days,
            now=runtime.now(),
            actor=CLI_ACTOR,
            region=settings.region,
            account_id=settings.default_account_id,
            request_id=str(uuid.uuid4()),
            dry_run=dry_run,
        )


class AuditWorker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-audit", daemon=True)
        self._last_purge: dt.datetime | None = None
        interval = runtime.settings.audit_digest_interval_seconds
        # Check often enough to stay close to the interval, without polling the database hard.
        self._tick = max(0.2, min(interval / 4, 30.0))

    def start(self, seal_at_exit: bool = True) -> AuditWorker:
        self._thread.start()
        if seal_at_exit:
            atexit.register(self.stop)
        return self

    def stop(self, final_digest: bool = True) -> None:
        """Stop the thread; on a clean shutdown, seal the events written since the last digest."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        if final_digest:
            try:
                seal(self.runtime, only_if_pending=True)
            except Exception:  # shutting down; the next instance seals them
                log.exception("could not write the final audit digest")

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            self.run_once()

    def run_once(self) -> None:
        try:
            digest = seal(self.runtime, force=False)
            if digest is not None:
                log.debug(
                    "audit digest #%s over events #%s..#%s", digest.digest_index, digest.first_index, digest.last_index
                )
        except Exception:  # retried next tick; the server must keep serving
            log.exception("could not write the audit digest")
        now = self.runtime.now()
        if self.runtime.settings.audit_retention_days and (
            self._last_purge is None or now - self._last_purge >= PURGE_EVERY
        ):
            self._last_purge = now
            try:
                purge(self.runtime)
            except Exception:  # retried in an hour
                log.exception("could not purge expired audit events")


def start_audit_worker(runtime: Runtime) -> AuditWorker:
    return AuditWorker(runtime).start()
