"""The group-commit audit writer: events that change nothing else, many to a transaction.

A read, a decision or a refusal changes nothing but the trail. Giving each its own write
transaction would turn every such request into a serialized write through the chain-head row,
one per event. Instead the request submits its finished event here and waits. One thread per
process takes everything queued (up to ``max_batch``), holds it in one transaction, and the
commit links the whole batch into the chain under one chain-head lock with one head update
(:mod:`broker.store.audit.chain`). Then the submitters wake: a response leaves only after its
event is durable, and a batch that fails raises :class:`AuditWriteFailed` in every submitter in
it, so the request fails rather than answering unrecorded. As with PostgreSQL's group commit,
the thread never waits to fill a batch: what arrives while one batch commits is the next batch,
so a lone request pays one commit and a crowd shares them.

Positions still follow commit order. A batch is one more transaction competing for the head,
with state-changing transactions (which hold their own events and chain them as they commit, so
a change and its event stay atomic) and with the writers of other processes; the chain stays one
gapless total order and verification is unchanged.

If the thread cannot run (it cannot be started, or it died), submitters write their events
themselves, one transaction each: slower, never lost.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass

from broker.errors import BrokerError
from broker.services import metrics
from broker.services.audit._record import PreparedEvent, to_append
from broker.services.audit.chain import link_events
from broker.store import Database
from broker.store.audit.chain import NewEvent, append_batch, append_events

log = logging.getLogger("broker.audit")

# How many events one transaction takes at most: enough to absorb a burst, small enough that a
# batch commits in milliseconds and never holds the chain head for long.
MAX_BATCH = 512
# An idle thread exits after this long; the next submit starts another (no thread per runtime
# lingers in tests or in processes that stopped serving).
_IDLE_SECONDS = 30.0
# How often a waiting submitter checks that the thread it waits on is still alive.
_WATCH_SECONDS = 0.5


class AuditWriteFailed(BrokerError):
    """The trail could not record the request, so it is not answered as if it had been."""

    code = "ServiceUnavailable"
    status = 503
    message = "The request could not be recorded in the audit trail; try again."


@dataclass(frozen=True)
class WriterStats:
    """What a writer has written since it was made: events, the batches that carried them (each
    one transaction and one chain-head update), and events written by their submitters directly."""

    events: int
    batches: int
    direct: int


class _Ticket:
    """One submitted event and, once its batch is settled, whether it failed and why."""

    __slots__ = ("cause", "done", "event", "event_id")

    def __init__(self, event: PreparedEvent) -> None:
        self.event_id = event.event_id
        # Derived here, on the submitter's thread, to keep the writer's own work per event small.
        self.event = to_append(event)
        self.done = threading.Event()
        self.cause: BaseException | None = None

    def fail(self, cause: BaseException) -> None:
        self.cause = cause
        self.done.set()


class AuditWriter:
    """Group-commits submitted events on one database; one per process, shared by its threads."""

    # Batches go on the pooled driver connection (:func:`append_batch`); False sends them through an
    # ORM session as before, the same rows: benchmarks/audit_append.py measures one against the other.
    on_driver = True

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._db = db
        self._max_batch = max_batch
        self._events = self._batches = self._direct = 0
        self._reset()
        _OPEN.add(self)
        # A forked worker process inherits the queue and lock but not the thread: start afresh.
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_in_child(reference))

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[_Ticket] = deque()
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, event: PreparedEvent) -> str:
        """Write ``event`` with the next batch and return its id once the batch has committed.

        Raises :class:`AuditWriteFailed` if the batch could not be written. Call it outside any
        transaction of the caller's: on SQLite an open transaction holds the write lock the batch
        needs (the batch would wait for it until it times out), and on PostgreSQL it would hold a
        pooled connection for the length of the wait.
        """
        ticket = _Ticket(event)
        with self._lock:
            queued = self._running()
            if queued:
                self._queue.append(ticket)
                self._wake.notify()
                metrics.audit_queued(1)
        if not queued:
            return self._write_directly(ticket)
        while not ticket.done.wait(_WATCH_SECONDS):
            with self._lock:
                if self._thread is not None and self._thread.is_alive():
                    continue
                if ticket not in self._queue:
                    continue  # taken by a thread that died: it failed the ticket on its way out
                self._queue.remove(ticket)
                metrics.audit_queued(-1)
            log.warning("the audit writer thread is gone; writing event %s directly", ticket.event_id)
            return self._write_directly(ticket)
        if ticket.cause is not None:
            raise AuditWriteFailed() from ticket.cause
        return ticket.event_id

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (a later submit starts another)."""
        with self._lock:
            thread = self._thread
            self._closing = True
            self._wake.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            self._closing = False

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(self._events, self._batches, self._direct)

    def _running(self) -> bool:
        """Whether the thread runs, starting it if need be; called with the lock held."""
        if self._thread is not None and self._thread.is_alive():
            return True
        thread = threading.Thread(target=self._run, name="broker-audit-writer", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # the interpreter is shutting down, or no thread can be made
            return False
        self._thread = thread
        return True

    def _run(self) -> None:
        me = threading.current_thread()
        batch: list[_Ticket] = []
        try:
            while True:
                with self._lock:
                    if not self._queue and not self._closing:
                        self._wake.wait(_IDLE_SECONDS)
                    if not self._queue:  # idle for a while, or closing with nothing left
                        if self._thread is me:
                            self._thread = None
                        return
                    batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
                    metrics.audit_queued(-len(batch))
                self._commit(batch)
                batch = []
        finally:
            # Only a crash leaves tickets in hand. Whether their batch committed is unknown, so
            # they fail: the requests fail, and nothing is answered without its event. Tickets
            # still queued are written by their submitters, who see the thread gone.
            for ticket in batch:
                if not ticket.done.is_set():
                    ticket.fail(RuntimeError("the audit writer thread stopped"))

    def _commit(self, batch: list[_Ticket]) -> None:
        started = time.perf_counter()
        try:
            _append(self._db, [ticket.event for ticket in batch], self.on_driver)
        except Exception as exc:  # each submitter raises it; the writer goes on with the next batch
            log.exception("could not write a batch of %d audit events", len(batch))
            for ticket in batch:
                ticket.fail(exc)
            return
        metrics.observe_audit_commit("batch", time.perf_counter() - started)
        with self._lock:
            self._events += len(batch)
            self._batches += 1
        for ticket in batch:
            ticket.done.set()
        # Let the submitters just woken run before the next batch is taken: those with another
        # event queue it now and share the next commit instead of each waiting for one.
        time.sleep(0)

    def _write_directly(self, ticket: _Ticket) -> str:
        started = time.perf_counter()
        try:
            _append(self._db, [ticket.event], self.on_driver)
        except Exception as exc:
            raise AuditWriteFailed() from exc
        metrics.observe_audit_commit("direct", time.perf_counter() - started)
        with self._lock:
            self._direct += 1
        return ticket.event_id


def _append(db: Database, events: list[NewEvent], on_driver: bool = True) -> None:
    """One batch, one transaction: on the driver directly, or through a session when the chain-head
    row must be rebuilt first (or ``on_driver`` is off)."""
    if not on_driver or not append_batch(db.engine, events, link_events):
        with db.transaction() as tx:
            append_events(tx, events, link_events)


def _reset_in_child(reference: weakref.ref[AuditWriter]) -> None:
    writer = reference()
    if writer is not None:
        writer._reset()


# Every writer, so one exit handler drains them all without keeping any of them alive.
_OPEN: weakref.WeakSet[AuditWriter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for writer in list(_OPEN):
        writer.close()
