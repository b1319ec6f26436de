"""Where the hash chain is kept: the chain-head row, its lock, and events held until commit.

The chain's rule (what an event links to, how its hash is computed) belongs to the audit service
(:mod:`broker.services.audit.chain`), which installs it with :func:`link_at_commit`. An event
recorded in a transaction is held (:func:`hold_event`) until that transaction commits. At commit
the transaction's other changes are flushed first; then the chain-head row is locked (``SELECT
... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers), the
rule links the events to the head, the head moves and the events are inserted, and the commit
releases the lock. Positions therefore follow commit order: two broker processes never fork the
chain, a transaction that rolls back never takes a position (no gap), and the lock is the last
one a transaction takes (no deadlock with the rows it changed).

The group-commit writer (:mod:`broker.services.audit.writer`) appends a whole batch of events
that change nothing else with :func:`append_events`, in a transaction of its own: one lock and
one head update for the batch, under the same rule and the same lock as every other append.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, event, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from broker.store.db import Tx
from broker.store.models import AuditChainHead, AuditEvent, AuditResource

# What the first event links to; the migration starts the head row here.
GENESIS_HASH = "0" * 64
HEAD_ID = 1
_PENDING = "broker.audit.pending"
_ON_COMMIT = "broker.audit.on_commit"


@dataclass(frozen=True)
class ChainHead:
    """Where the chain ends: the next event takes ``last_index + 1`` and links to ``last_hash``."""

    last_index: int
    last_hash: str


@dataclass(frozen=True)
class ChainLink:
    """An event's place in the chain: its position, the hash it links to, and its own hash."""

    chain_index: int
    prev_hash: str
    event_hash: str


# Gives records the positions after the head, in order, each linked to the one before.
Link = Callable[[ChainHead, Sequence[Mapping[str, Any]]], list[ChainLink]]


# Built once: these run for every batch, and building a statement costs more than running it.
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_LOCK_HEAD = select(_HEAD.c.last_index, _HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(last_index=bindparam("index"), last_hash=bindparam("hash"), updated_at=bindparam("at"))
)
_INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.seq, sort_by_parameter_order=True)
_INSERT_RESOURCES = insert(cast(Table, AuditResource.__table__))


def _lock_head(connection: Connection) -> ChainHead:
    row = connection.execute(_LOCK_HEAD).first()
    if row is not None:
        return ChainHead(int(row.last_index), str(row.last_hash))
    # Only a damaged database lacks the row (the migration creates it): continue from the last
    # event so appends keep working; `broker audit verify` reports the damage.
    last = connection.execute(
        select(AuditEvent.chain_index, AuditEvent.event_hash).order_by(AuditEvent.chain_index.desc()).limit(1)
    ).first()
    head = ChainHead(int(last.chain_index), str(last.event_hash)) if last is not None else ChainHead(0, GENESIS_HASH)
    connection.execute(
        insert(AuditChainHead).values(
            id=HEAD_ID, last_index=head.last_index, last_hash=head.last_hash, updated_at=dt.datetime.now(dt.UTC)
        )
    )
    return head


def lock_head(tx: Tx) -> ChainHead:
    """The chain head, locked until the transaction ends; rebuilt from the events if missing."""
    return _lock_head(tx.connection())


def read_head(tx: Tx) -> ChainHead | None:
    """The chain head as recorded, without a lock; None if the row is missing."""
    row = tx.execute(
        select(AuditChainHead.last_index, AuditChainHead.last_hash).where(AuditChainHead.id == HEAD_ID)
    ).first()
    return ChainHead(int(row.last_index), str(row.last_hash)) if row is not None else None


def trail_key(tx: Tx) -> str:
    """Which database ``tx`` works on (its URL, password hidden): what a process remembers per trail."""
    return tx.get_bind().engine.url.render_as_string(hide_password=True)


def after_commit(tx: Tx, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``tx`` has committed; never if it rolls back."""
    tx.info.setdefault(_ON_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_ON_COMMIT, []):
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_ON_COMMIT, None)


def hold_event(tx: Tx, event: NewEvent) -> str:
    """``event``, written (and linked into the chain) as ``tx`` commits; its event id.

    An event held in a transaction or SAVEPOINT that rolls back is never written.
    """
    transaction = tx.get_nested_transaction() or tx.get_transaction()
    tx.info.setdefault(_PENDING, []).append((transaction, event))
    return str(event.columns["event_id"])


@dataclass(frozen=True)
class NewEvent:
    """An event to append: its record, the indexed columns derived from it, and its resources."""

    event_time: dt.datetime
    record: dict[str, Any]
    columns: Mapping[str, Any]
    resources: Sequence[tuple[str | None, str, str]]


def append_events(tx: Tx, events: Sequence[NewEvent], link: Link) -> None:
    """Write ``events`` now, linked with ``link`` after the chain head in order, and move the head.

    The chain-head lock is held until ``tx`` ends, so this is the last thing ``tx`` does. One
    lock, one head update and a few multi-row inserts, however many events: the group-commit
    writer's batch. Plain INSERT statements rather than ORM objects, because the batch is the
    request path's only write.
    """
    if not events:
        return
    connection = tx.connection()
    links = link(_lock_head(connection), [e.record for e in events])
    rows = [
        {
            "event_time": e.event_time,
            "record": e.record,
            "chain_index": place.chain_index,
            "prev_hash": place.prev_hash,
            "event_hash": place.event_hash,
            **e.columns,
        }
        for e, place in zip(events, links, strict=True)
    ]
    seqs = connection.execute(_INSERT_EVENTS, rows)
    resources = [
        {"event_seq": seq, "resource_type": kind, "resource_name": name, "short_name": short}
        for seq, e in zip(seqs.scalars(), events, strict=True)
        for kind, name, short in e.resources
    ]
    if resources:
        connection.execute(_INSERT_RESOURCES, resources)
    last = links[-1]
    connection.execute(_MOVE_HEAD, {"index": last.chain_index, "hash": last.event_hash, "at": dt.datetime.now(dt.UTC)})


class _BatchStatements:
    """The batch writer's statements, rendered once per dialect, with their columns' bind processors."""

    def __init__(self, dialect: Dialect) -> None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.columns = [c for c in _EVENTS.columns if c.name != "seq"]
        # What a column missing from an event's values gets: its scalar default, as an ORM insert.
        self.defaults = {
            c.name: cast(Any, c.default).arg for c in self.columns if c.default is not None and c.default.is_scalar
        }
        self.processors = [c.type._cached_bind_processor(dialect) for c in self.columns]
        names = ", ".join(c.name for c in self.columns)
        # Every name below is the schema's own, fixed here; the values go as parameters.
        places = ", ".join([mark] * len(self.columns))
        self.insert_event = f"INSERT INTO audit_events ({names}) VALUES ({places})"  # noqa: S608
        self._time = _EVENTS.c.event_time.type._cached_bind_processor(dialect)
        # The resource rows find their event by its (unique) id: no RETURNING round trip first.
        self.insert_resource = (
            "INSERT INTO audit_resources (event_seq, resource_type, resource_name, short_name) "  # noqa: S608
            f"SELECT seq, {mark}, {mark}, {mark} FROM audit_events WHERE event_id = {mark}"
        )
        lock = " FOR UPDATE" if dialect.name == "postgresql" else ""
        self.lock_head = f"SELECT last_index, last_hash FROM audit_chain_head WHERE id = {HEAD_ID}{lock}"  # noqa: S608
        self.move_head = (
            f"UPDATE audit_chain_head SET last_index = {mark}, last_hash = {mark}, updated_at = {mark} "  # noqa: S608
            f"WHERE id = {HEAD_ID}"
        )
        self.begin = "BEGIN IMMEDIATE" if dialect.name == "sqlite" else None
        # PostgreSQL: one simple query (no parameters), so BEGIN costs no round trip of its own.
        self.begin_and_lock_head = f"BEGIN; SET LOCAL synchronous_commit TO off; {self.lock_head}"
        self._names = names
        self._row = f"({places})"
        self._writes: dict[tuple[int, int], str] = {}

    def write_batch(self, events: int, resources: int) -> str:
        """PostgreSQL: one statement inserting ``events`` events and ``resources`` resource rows (each
        finds its event by id among those just inserted) and moving the head."""
        key = (events, resources)
        statement = self._writes.get(key)
        if statement is None:
            # Only the schema's own names and placeholders are joined here; the values go as parameters.
            rows = ", ".join([self._row] * events)
            parts = [
                f"WITH written AS (INSERT INTO audit_events ({self._names}) VALUES {rows} "  # noqa: S608
                "RETURNING seq, event_id)"
            ]
            if resources:
                listed = ", ".join(["(%s, %s, %s, %s)"] * resources)
                parts.append(
                    ", listed AS (INSERT INTO audit_resources (event_seq, resource_type, resource_name, short_name) "  # noqa: S608
                    "SELECT written.seq, r.kind, r.name, r.short FROM written "
                    f"JOIN (VALUES {listed}) AS r(event_id, kind, name, short) "
                    "ON r.event_id = written.event_id)"
                )
            parts.append(f" {self.move_head}")
            statement = "".join(parts)
            if len(self._writes) < 256:  # the common shapes; a rare one is rebuilt when it recurs
                self._writes[key] = statement
        return statement

    def head_row(self, last: ChainLink) -> tuple[Any, ...]:
        now = dt.datetime.now(dt.UTC)
        return (last.chain_index, last.event_hash, self._time(now) if self._time else now)

    def event_row(self, event: NewEvent, place: ChainLink) -> tuple[Any, ...]:
        values = {
            "event_time": event.event_time,
            "record": event.record,
            "chain_index": place.chain_index,
            "prev_hash": place.prev_hash,
            "event_hash": place.event_hash,
            **event.columns,
        }
        row = [values.get(column.name, self.defaults.get(column.name)) for column in self.columns]
        return tuple(process(value) if process else value for value, process in zip(row, self.processors, strict=True))


_BATCH_STATEMENTS: dict[str, _BatchStatements] = {}
_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
# PostgreSQL's protocol carries at most 65,535 parameters in one statement.
_MAX_PARAMETERS = 65_000


def append_batch(engine: Engine, events: Sequence[NewEvent], link: Link) -> bool:
    """Append ``events`` in a transaction of their own, on a pooled connection's driver directly.

    The group-commit writer's batch: the same rows, lock and head update as :func:`append_events`
    in a session, without the ORM session and statement compilation around every statement, and on
    PostgreSQL in three round trips (:func:`_append_postgres`) instead of six. Returns False, having
    written nothing, when the head row is missing: the caller then appends through a session, which
    rebuilds it.
    """
    if not events:
        return True
    statements = _BATCH_STATEMENTS.get(engine.dialect.name)
    if statements is None:
        statements = _BATCH_STATEMENTS[engine.dialect.name] = _BatchStatements(engine.dialect)
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        if statements.begin is None:
            return _append_postgres(driver, statements, events, link)
        cursor = driver.cursor()
        try:
            cursor.execute(statements.begin)
            row = cursor.execute(statements.lock_head).fetchone()
            if row is None:
                driver.rollback()
                return False
            _write_linked(cursor, statements, row, events, link)
            cursor.execute("COMMIT")
        except BaseException:
            if driver.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
        return True
    finally:
        raw.close()


def _write_linked(cursor: Any, statements: _BatchStatements, head: Any, events: Sequence[NewEvent], link: Link) -> None:
    """Link ``events`` after the locked ``head`` row, insert them and their resources, move the head."""
    links = link(ChainHead(int(head[0]), str(head[1])), [e.record for e in events])
    cursor.executemany(
        statements.insert_event, [statements.event_row(e, p) for e, p in zip(events, links, strict=True)]
    )
    resources = [(kind, name, short, e.columns["event_id"]) for e in events for kind, name, short in e.resources]
    if resources:
        cursor.executemany(statements.insert_resource, resources)
    cursor.execute(statements.move_head, statements.head_row(links[-1]))


def _append_postgres(driver: Any, statements: _BatchStatements, events: Sequence[NewEvent], link: Link) -> bool:
    """The batch on psycopg in three round trips: ``BEGIN`` with the head's lock (one simple query),
    the events, their resources and the head's move (one statement), then the commit and a flush.

    The head's row lock is what every writer of every process waits for, so the batch does not
    hold it while the write-ahead log is flushed to disk: it commits with ``synchronous_commit``
    off, which releases the lock as soon as its commit record is written. Then, still before any
    submitter is answered, an empty transaction that holds a transaction id commits with the
    server's own ``synchronous_commit``: its commit waits until the log is flushed (and, with
    synchronous replication, confirmed) up to its own commit record, which comes after the
    batch's. So a batch is durable before it is answered, as before, and batches from several
    processes share their flushes instead of queueing one flush each behind the lock.

    Not pipeline mode: it saves one round trip but costs more client CPU than the round trip
    takes, and CPU is what a loaded server runs out of.
    """
    driver.autocommit = True  # BEGIN and COMMIT are sent as statements, each with its neighbours
    cursor = driver.cursor()
    try:
        cursor.execute(statements.begin_and_lock_head)
        cursor.nextset()  # past BEGIN's result
        cursor.nextset()  # and SET LOCAL's, to the head's row
        head = cursor.fetchone()
        if head is None:
            cursor.execute("ROLLBACK")
            return False
        resources = [(e.columns["event_id"], kind, name, short) for e in events for kind, name, short in e.resources]
        if len(events) * len(statements.columns) + 4 * len(resources) + 3 > _MAX_PARAMETERS:
            _write_linked(cursor, statements, head, events, link)  # a statement per row: rare, never refused
        else:
            links = link(ChainHead(int(head[0]), str(head[1])), [e.record for e in events])
            parameters: list[Any] = []
            for event, place in zip(events, links, strict=True):
                parameters.extend(statements.event_row(event, place))
            for resource in resources:
                parameters.extend(resource)
            parameters.extend(statements.head_row(links[-1]))
            cursor.execute(statements.write_batch(len(events), len(resources)), parameters)
        cursor.execute(_COMMIT_THEN_FLUSH)
        return True
    except BaseException:
        if not driver.closed and driver.info.transaction_status != _PG_IDLE:
            driver.rollback()  # leaves the connection idle (a broken one is discarded by the pool)
        raise
    finally:
        cursor.close()
        if not driver.closed and driver.info.transaction_status == _PG_IDLE:
            driver.autocommit = False  # as the pool's other users expect it


# The batch's commit (its lock released without waiting for the disk), then an empty transaction
# whose synchronous commit returns once the log is flushed past the batch: one round trip.
_COMMIT_THEN_FLUSH = "COMMIT; BEGIN; SELECT txid_current(); COMMIT"


def _append(tx: Tx, events: Sequence[AuditEvent], link: Link) -> None:
    """Give ``events`` the next positions, in order, and move the head: under the head lock."""
    connection = tx.connection()
    head = _lock_head(connection)
    for audit_event, place in zip(events, link(head, [e.record for e in events]), strict=True):
        audit_event.chain_index = place.chain_index
        audit_event.prev_hash = place.prev_hash
        audit_event.event_hash = place.event_hash
        head = ChainHead(place.chain_index, place.event_hash)
    connection.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(last_index=head.last_index, last_hash=head.last_hash, updated_at=dt.datetime.now(dt.UTC))
    )


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def link_at_commit(link: Link) -> None:
    """Install the session hooks that chain held events with ``link`` as they commit.

    Called once per process, by the module that defines the chain rule.
    """

    @event.listens_for(Session, "before_commit")
    def _append_held(session: Session) -> None:
        # At the outermost commit: the transaction's other changes first, then its events, so
        # the chain-head lock is held only while they are inserted and the transaction commits.
        if session.in_nested_transaction():
            return  # a SAVEPOINT being released; its events wait for the outer commit
        pending: list[tuple[SessionTransaction | None, NewEvent]] = session.info.pop(_PENDING, [])
        if not pending:
            return
        session.flush()
        # Plain INSERTs, as the group-commit writer's batches: no ORM objects to flush.
        append_events(session, [held for _transaction, held in pending], link)

    @event.listens_for(Session, "after_soft_rollback")
    def _forget_rolled_back(session: Session, previous: SessionTransaction) -> None:
        pending = session.info.get(_PENDING)
        if not pending:
            return
        if previous.parent is None:
            session.info.pop(_PENDING, None)
        else:
            session.info[_PENDING] = [(t, e) for t, e in pending if not _within(t, previous)]

    @event.listens_for(Session, "before_flush")
    def _chain_added_directly(session: Session, _context: UOWTransaction, _instances: object) -> None:
        # An AuditEvent added to a session without hold_event is chained as it is flushed.
        direct = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.event_hash is None]
        if direct:
            _append(session, sorted(direct, key=lambda e: (e.event_time, e.event_id)), link)
