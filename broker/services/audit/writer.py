"""The group-commit audit writer: events that change nothing else, many to a transaction.

A read, a decision or a refusal changes nothing but the trail. Giving each its own write
transaction would turn every such request into a serialized write through the chain-head row,
one per event. Instead the request submits its finished event here and waits for the durable
commit of the batch that carries it, as in PostgreSQL's own group commit: the first submitter to
find no batch being written becomes the *leader*. It takes everything queued (up to
``max_batch``, its own event first), writes it in one transaction, and the commit links the whole
batch into the chain under one chain-head lock with one head update
(:mod:`broker.store.audit.chain`). Events submitted meanwhile queue behind it; when its batch is
settled the leader wakes them, hands the lead to the first still queued, and returns. So a lone
request writes its own event on its own thread, with no handoff to another thread and back, and a
crowd shares one commit per batch. No one waits to fill a batch.

A response leaves only after its event is durable: a batch that fails raises
:class:`AuditWriteFailed` in every submitter in it, so the request fails rather than answering
unrecorded. A leader interrupted mid-commit (an exception that is not an error, such as a
``KeyboardInterrupt``) fails its batch, since whether it committed is unknown, and passes the lead
on, so the events queued behind it are still written.

Positions still follow commit order. A batch is one more transaction competing for the head,
with state-changing transactions (which hold their own events and chain them as they commit, so
a change and its event stay atomic) and with the writers of other processes; the chain stays one
gapless total order and verification is unchanged.
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


class AuditWriteFailed(BrokerError):
    """The trail could not record the request, so it is not answered as if it had been."""

    code = "ServiceUnavailable"
    status = 503
    message = "The request could not be recorded in the audit trail; try again."


@dataclass(frozen=True)
class WriterStats:
    """What a writer has written since it was made: events, and the batches that carried them
    (each one transaction and one chain-head update)."""

    events: int
    batches: int


class _Ticket:
    """One submitted event; woken when its batch is settled (``cause`` says if it failed) or when
    its submitter is to lead the next batch."""

    __slots__ = ("cause", "event", "event_id", "settled", "wake")

    def __init__(self, event: PreparedEvent) -> None:
        self.event_id = event.event_id
        # Derived here, on the submitter's thread, before any lock is taken.
        self.event = to_append(event)
        self.wake = threading.Event()
        self.settled = False
        self.cause: BaseException | None = None

    def settle(self, cause: BaseException | None = None) -> None:
        self.cause = cause
        self.settled = True
        self.wake.set()


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
        self._events = self._batches = 0
        self._reset()
        _OPEN.add(self)
        # A forked worker process inherits the queue and lock, maybe mid-batch: start afresh.
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_in_child(reference))

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: deque[_Ticket] = deque()
        self._leading = False
        self._submitters = 0  # inside submit now, queued or waiting or returning

    def submit(self, event: PreparedEvent) -> str:
        """Write ``event`` with the next batch and return its id once the batch has committed.

        Raises :class:`AuditWriteFailed` if the batch could not be written. Call it outside any
        transaction of the caller's: on SQLite an open transaction holds the write lock the batch
        needs (the batch would wait for it until it times out), and on PostgreSQL it would hold a
        pooled connection for the length of the wait.
        """
        ticket = _Ticket(event)
        with self._lock:
            self._queue.append(ticket)
            metrics.audit_queued(1)
            leads = not self._leading
            self._leading = True
            self._submitters += 1
            crowd = self._submitters > 1
        try:
            if not leads:
                ticket.wake.wait()
            if not ticket.settled:  # leading now: from the start, or handed the lead
                self._lead(crowd=crowd or not leads)
        finally:
            with self._lock:
                self._submitters -= 1
        if ticket.cause is not None:
            raise AuditWriteFailed() from ticket.cause
        return ticket.event_id

    def close(self, timeout: float = 10.0) -> None:
        """Wait until no batch is being written and none is queued (at most ``timeout`` seconds)."""
        with self._lock:
            self._idle.wait_for(lambda: not self._leading and not self._queue, timeout)

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(self._events, self._batches)

    def _lead(self, *, crowd: bool) -> None:
        """Write one batch from the head of the queue (the leader's own event is its first), settle
        it, then hand the lead to the first event still queued, or give it up."""
        batch: list[_Ticket] = []
        try:
            if crowd:
                # Other submitters are in flight: let the threads that are ready to run (those just
                # woken by the last batch) queue their next events first, so they share this
                # commit. A lone leader skips it: on a busy machine a yield can cost a time slice.
                # sched_yield, not sleep(0), to which the kernel adds its timer slack (~50 us).
                os.sched_yield()
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
                metrics.audit_queued(-len(batch))
            self._commit(batch)
        finally:
            # Only an interruption leaves tickets unsettled. Whether their batch committed is
            # unknown, so they fail: nothing is answered without its event.
            for ticket in batch:
                if not ticket.settled:
                    ticket.settle(RuntimeError("the audit batch was interrupted"))
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # woken unsettled: it leads the next batch
                else:
                    self._leading = False
                    self._idle.notify_all()

    def _commit(self, batch: list[_Ticket]) -> None:
        started = time.perf_counter()
        try:
            _append(self._db, [ticket.event for ticket in batch], self.on_driver)
        except Exception as exc:  # each submitter raises it; the next batch is written as usual
            log.exception("could not write a batch of %d audit events", len(batch))
            for ticket in batch:
                ticket.settle(exc)
            return
        metrics.observe_audit_commit("batch", time.perf_counter() - started)
        with self._lock:
            self._events += len(batch)
            self._batches += 1
        for ticket in batch:
            ticket.settle()


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


# Every writer, so one exit handler waits for them all without keeping any of them alive.
_OPEN: weakref.WeakSet[AuditWriter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for writer in list(_OPEN):
        writer.close()
