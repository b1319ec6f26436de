"""The background writer `broker serve` runs: a digest every interval, a purge every hour.

Every broker process runs one; they coordinate through the chain-head lock, so each digest is
written once whichever process gets there first. A failed round is logged and retried on the
next tick; it never stops the server.

The IdP metadata refresh runs beside it on a thread of its own: a fetch waits on another
organisation's server (up to its deadline, per provider), and no digest may wait for that.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import uuid

from broker.services.audit.digests import AuditTrailNotBegun, Trigger, is_due, write_digest, write_genesis
from broker.services.audit.operator import CLI_ACTOR
from broker.services.audit.retention import PurgeResult, purge_expired
from broker.services.runtime import Runtime
from broker.store.audit.digests import DigestRecord

log = logging.getLogger("broker.audit")
PURGE_EVERY = dt.timedelta(hours=1)


def begin_trail(runtime: Runtime) -> DigestRecord | None:
    """Write the trail's genesis digest if it has not begun (`broker init`, after the schema)."""
    settings = runtime.settings
    with runtime.db.transaction() as tx:
        return write_genesis(
            tx,
            runtime.keys.audit_keys,
            account_id=settings.default_account_id,
            region=settings.region,
            now=runtime.now(),
        )


def seal(
    runtime: Runtime, *, force: bool = True, only_if_pending: bool = False, trigger: Trigger = "command"
) -> DigestRecord | None:
    """Write a digest now (``force``) or only if the interval has passed; ``only_if_pending``
    skips it when no event came since the last one. Raises AuditTrailNotBegun on a trail that
    has no digest at all (wiped)."""
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
            trigger=trigger,
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
        self._metadata_thread = threading.Thread(target=self._run_metadata, name="broker-metadata", daemon=True)
        self._last_purge: dt.datetime | None = None
        self._reseal_wait = dt.timedelta(0)
        interval = runtime.settings.audit_digest_interval_seconds
        # Check often enough to stay close to the interval, without polling the database hard.
        self._tick = max(0.2, min(interval / 4, 30.0))

    def start(self, seal_at_exit: bool = True) -> AuditWorker:
        self._thread.start()
        self._metadata_thread.start()
        if seal_at_exit:
            atexit.register(self.stop)
        return self

    def stop(self, final_digest: bool = True) -> None:
        """Stop the thread; on a clean shutdown, write a final digest (even over no new event), so
        verification can tell the time until the next digest from a crash's."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        # A fetch in flight ends by its deadline; the process need not wait for it (a daemon).
        self._metadata_thread.join(timeout=1)
        if final_digest:
            try:
                seal(self.runtime, trigger="shutdown")
            except AuditTrailNotBegun as exc:
                log.error("no final audit digest: %s", exc.message)
            except Exception:  # shutting down; the next instance seals them
                log.exception("could not write the final audit digest")

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            self.run_once()

    def _run_metadata(self) -> None:
        while not self._stop.wait(self._tick):
            self.refresh_metadata(self.runtime.now())

    def run_once(self) -> None:
        try:
            digest = seal(self.runtime, force=False, trigger="interval")
            if digest is not None:
                log.debug(
                    "audit digest #%s over events #%s..#%s", digest.digest_index, digest.first_index, digest.last_index
                )
        except AuditTrailNotBegun as exc:
            log.error("no audit digest: %s", exc.message)
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
        self.reseal_data(now)

    def reseal_data(self, now: dt.datetime) -> None:
        """One batch of secrets re-sealed under the current data key, while an older key seals any."""
        from broker.services.reseal import RESEAL_IDLE, reseal_batch

        if len(self.runtime.box.key_ids) < 2 or not self.runtime.housekeeping.due(
            "data-reseal", now, self._reseal_wait
        ):
            return
        try:
            done = reseal_batch(self.runtime)
        except Exception:  # retried next tick
            log.exception("could not re-seal secrets under the current data key")
            return
        # A full batch may have more behind it: come back next tick; else look again later.
        self._reseal_wait = dt.timedelta(0) if done else RESEAL_IDLE

    def refresh_metadata(self, now: dt.datetime) -> None:
        """Fetch the IdP metadata that is due (the database decides which process fetches which);
        on the ``broker-metadata`` thread."""
        from broker.services.federation.metadata_refresh import POLL_INTERVAL, refresh_due

        if self.runtime.housekeeping.due("metadata-refresh", now, POLL_INTERVAL):
            try:
                refresh_due(self.runtime)
            except Exception:  # retried at the next poll
                log.exception("could not refresh IdP metadata")


def start_audit_worker(runtime: Runtime) -> AuditWorker:
    return AuditWorker(runtime).start()
