"""The group-commit writer: many threads and two writers on one chain, failures, an interrupted leader."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from broker.services.audit import ANONYMOUS, AuditScope, AuditWriteFailed, AuditWriter, ClientInfo, build_event
from broker.services.audit import writer as writer_module
from broker.services.audit.writer import MAX_BATCH, WriterStats
from broker.services.runtime import Runtime
from broker.store import Database
from broker.store.audit import chain as chain_module
from broker.store.models import AuditEvent
from tests.services.audit.support import verify, write_events
from tests.support.brokers import make_runtime, make_settings, postgres_schema
from tests.support.statements import listening_to_drivers, request_statements


def probe(runtime: Runtime, number: int = 0) -> Any:
    return build_event(
        event_name="GetUser",
        event_source="iam.amazonaws.com",
        actor=ANONYMOUS,
        now=runtime.now(),
        region="us-east-1",
        source_ip="192.0.2.1",
        user_agent="tests",
        request_id=str(uuid.uuid4()),
        request_parameters={"userName": f"user-{number}"},
        read_only=True,
        resources=[{"ARN": f"arn:aws:iam::123456789012:user/user-{number}"}],
    )


# The writer sends its batches on the driver's connection directly, past SQLAlchemy's statement
# events; the database itself counts and refuses, whoever sends the statement.
_TRIGGERS = {
    "sqlite": [
        "CREATE TABLE test_head_moves (n INTEGER)",
        "CREATE TRIGGER test_count_moves AFTER UPDATE ON audit_chain_head "
        "BEGIN INSERT INTO test_head_moves VALUES (1); END",
        "CREATE TABLE test_refusing (on_ INTEGER)",
        "INSERT INTO test_refusing VALUES (0)",
        "CREATE TRIGGER test_refuse BEFORE INSERT ON audit_events WHEN (SELECT on_ FROM test_refusing) = 1 "
        "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
    ],
    "postgresql": [
        "CREATE TABLE test_head_moves (n INTEGER)",
        "CREATE FUNCTION test_count_move() RETURNS trigger AS $$ BEGIN INSERT INTO test_head_moves VALUES (1); "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER test_count_moves AFTER UPDATE ON audit_chain_head "
        "FOR EACH ROW EXECUTE FUNCTION test_count_move()",
        "CREATE TABLE test_refusing (on_ INTEGER)",
        "INSERT INTO test_refusing VALUES (0)",
        "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN IF (SELECT on_ FROM test_refusing) = 1 THEN "
        "RAISE EXCEPTION 'the disk is full'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER test_refuse BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_refuse()",
    ],
}


def install_triggers(db: Database) -> None:
    with db.engine.begin() as connection:
        for statement in _TRIGGERS[db.engine.dialect.name]:
            connection.exec_driver_sql(statement)


def head_moves(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT count(*) FROM test_head_moves").scalar_one())


def refuse_event_inserts(db: Database, refusing: bool) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE test_refusing SET on_ = :on"), {"on": int(refusing)})


def stored_ids(runtime: Runtime) -> Counter[str]:
    with runtime.db.transaction() as session:
        return Counter(session.scalars(select(AuditEvent.event_id)))


def chain_indexes(runtime: Runtime) -> list[int]:
    with runtime.db.transaction() as session:
        return list(session.scalars(select(AuditEvent.chain_index).order_by(AuditEvent.chain_index)))


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def run_threads(count: int, work: Any) -> None:
    threads = [threading.Thread(target=work, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)


def test_threads_and_a_second_writer_and_changes_share_one_gapless_chain(audit_runtime: Runtime) -> None:
    before = stored_ids(audit_runtime)
    # A second writer on its own engine and pool: another broker process on the same database.
    other_db = Database(audit_runtime.settings.database_url)
    first, second = AuditWriter(audit_runtime.db), AuditWriter(other_db)
    returned: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def submitter(writer: AuditWriter, count: int) -> Any:
        def work(number: int) -> None:
            try:
                ids = [writer.submit(probe(audit_runtime, number * 1000 + n)) for n in range(count)]
            except BaseException as exc:  # reported below, with the thread's failure
                errors.append(exc)
                raise
            with lock:
                returned.extend(ids)

        return work

    def changes(number: int) -> None:
        # State-changing transactions: each holds its event and chains it as it commits.
        ids = write_events(audit_runtime, 25, name=f"CreateUser{number}")
        with lock:
            returned.extend(ids)

    workers = [
        threading.Thread(target=run_threads, args=(8, submitter(first, 200))),
        threading.Thread(target=run_threads, args=(4, submitter(second, 100))),
        threading.Thread(target=run_threads, args=(2, changes)),
    ]
    install_triggers(audit_runtime.db)
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=600)
    first.close()
    second.close()
    other_db.dispose()
    assert errors == []

    submitted = 8 * 200 + 4 * 100
    assert len(returned) == submitted + 2 * 25
    stored = stored_ids(audit_runtime) - before
    assert set(stored) == set(returned)
    assert all(count == 1 for count in stored.values())
    indexes = chain_indexes(audit_runtime)
    assert indexes == list(range(1, len(indexes) + 1))  # one total order, no gap, no fork
    report = verify(audit_runtime)
    assert report.ok, [f.line() for f in report.findings]

    # One head update per batch (and per state-changing transaction), not per event.
    one, two = first.stats(), second.stats()
    assert (one.events, two.events) == (8 * 200, 4 * 100)
    assert head_moves(audit_runtime.db) == one.batches + two.batches + 2 * 25
    assert one.batches + two.batches <= submitted / 2, (one, two)


def test_a_failed_batch_raises_in_every_submitter_and_the_writer_goes_on(audit_runtime: Runtime) -> None:
    writer = AuditWriter(audit_runtime.db)
    before = stored_ids(audit_runtime)
    install_triggers(audit_runtime.db)
    refuse_event_inserts(audit_runtime.db, True)
    outcomes: list[BaseException | str] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        try:
            outcome: BaseException | str = writer.submit(probe(audit_runtime, number))
        except AuditWriteFailed as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    run_threads(6, work)
    assert len(outcomes) == 6
    assert all(isinstance(o, AuditWriteFailed) for o in outcomes), outcomes
    failure = outcomes[0]
    assert isinstance(failure, AuditWriteFailed) and failure.status == 503
    assert "the disk is full" in str(failure.__cause__)
    assert stored_ids(audit_runtime) == before  # nothing of the failed batches was written

    refuse_event_inserts(audit_runtime.db, False)
    event_id = writer.submit(probe(audit_runtime))
    writer.close()
    assert stored_ids(audit_runtime) - before == Counter({event_id: 1})
    assert verify(audit_runtime).ok


def test_an_event_that_cannot_be_stored_fails_its_batch(audit_runtime: Runtime) -> None:
    writer = AuditWriter(audit_runtime.db)
    kept = probe(audit_runtime)
    writer.submit(kept)
    with pytest.raises(AuditWriteFailed):
        writer.submit(kept)  # the same event id twice: the unique index refuses the batch
    writer.close()
    assert stored_ids(audit_runtime)[kept.event_id] == 1
    assert verify(audit_runtime).ok


class _Crash(BaseException):
    """What interrupts a leader's commit in these tests (no ``except Exception`` catches it)."""


def test_a_lone_submitter_writes_its_own_event_on_its_own_thread(
    audit_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = AuditWriter(audit_runtime.db)
    committed_on: list[threading.Thread] = []
    commit = writer._commit

    def recorded(batch: list[Any]) -> None:
        committed_on.append(threading.current_thread())
        commit(batch)

    monkeypatch.setattr(writer, "_commit", recorded)
    yields: list[int] = []
    monkeypatch.setattr(writer_module.os, "sched_yield", lambda: yields.append(1))
    threads_before = threading.active_count()
    event_id = writer.submit(probe(audit_runtime))
    assert committed_on == [threading.current_thread()]  # no handoff to another thread and back
    assert yields == []  # and no yield of the processor: no one else is there to queue
    assert threading.active_count() == threads_before  # and no thread left behind
    assert stored_ids(audit_runtime)[event_id] == 1
    assert writer.stats() == WriterStats(events=1, batches=1)


def test_a_leader_interrupted_mid_commit_fails_its_batch_and_the_next_leads(
    audit_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = AuditWriter(audit_runtime.db)
    in_commit, release = threading.Event(), threading.Event()
    commit = writer._commit

    def crash_once(batch: list[Any]) -> None:
        in_commit.set()
        release.wait(30)
        monkeypatch.setattr(writer, "_commit", commit)
        raise _Crash

    monkeypatch.setattr(writer, "_commit", crash_once)
    monkeypatch.setattr(threading, "excepthook", lambda _args: None)  # the crash is the point
    outcomes: dict[int, BaseException | str] = {}

    def work(number: int) -> None:
        try:
            outcomes[number] = writer.submit(probe(audit_runtime, number))
        except AuditWriteFailed as exc:
            outcomes[number] = exc

    first = threading.Thread(target=work, args=(0,))
    first.start()
    assert in_commit.wait(30)  # the first submitter leads, and holds its own event
    queued = [threading.Thread(target=work, args=(n,)) for n in (1, 2, 3)]
    for thread in queued:
        thread.start()
    wait_until(lambda: len(writer._queue) == 3)
    release.set()
    for thread in [first, *queued]:
        thread.join(timeout=30)

    # The interrupted batch may or may not have committed: its submitter's thread ended without an
    # answer. The events queued behind it were written by the next leader, in one batch.
    assert 0 not in outcomes
    written = [outcomes[n] for n in (1, 2, 3)]
    assert all(isinstance(o, str) for o in written), written
    assert set(written) <= set(stored_ids(audit_runtime))
    assert writer.stats() == WriterStats(events=3, batches=1)
    assert not writer._leading and not writer._queue
    later = writer.submit(probe(audit_runtime, 4))
    assert later in stored_ids(audit_runtime)
    assert verify(audit_runtime).ok


def test_close_waits_for_the_batch_being_written(audit_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = AuditWriter(audit_runtime.db)
    in_commit, release = threading.Event(), threading.Event()
    commit = writer._commit

    def slow(batch: list[Any]) -> None:
        in_commit.set()
        release.wait(30)
        commit(batch)

    monkeypatch.setattr(writer, "_commit", slow)
    results: list[str] = []
    submitter = threading.Thread(target=lambda: results.append(writer.submit(probe(audit_runtime))))
    submitter.start()
    assert in_commit.wait(30)
    closed = threading.Event()
    closer = threading.Thread(target=lambda: (writer.close(), closed.set()))
    closer.start()
    assert not closed.wait(0.3)  # the batch is still being written
    release.set()
    assert closed.wait(30)
    submitter.join(timeout=30)
    assert len(results) == 1 and results[0] in stored_ids(audit_runtime)


def test_a_batch_takes_at_most_max_batch_events(audit_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = AuditWriter(audit_runtime.db, max_batch=3)
    sizes: list[int] = []
    commit = writer._commit
    gate = threading.Event()

    def recorded(batch: list[Any]) -> None:
        sizes.append(len(batch))
        gate.wait(30)  # let the queue fill up behind the first batch
        commit(batch)

    monkeypatch.setattr(writer, "_commit", recorded)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(writer.submit(probe(audit_runtime, n)))) for n in range(10)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: sum(sizes) + len(writer._queue) == 10)
    gate.set()
    for thread in threads:
        thread.join(timeout=30)
    writer.close()
    assert len(results) == 10 and max(sizes) == 3 and sum(sizes) == 10
    assert MAX_BATCH >= 256


@pytest.mark.postgres
def test_on_postgresql_the_head_is_released_before_the_flush_and_the_answer_waits_for_it(
    tmp_path: Path, keys_dir: Path
) -> None:
    with postgres_schema() as url, listening_to_drivers():
        runtime = make_runtime(make_settings(tmp_path, keys_dir, url, "http://127.0.0.1:9"))
        try:
            writer = AuditWriter(runtime.db)
            with request_statements(control=True) as seen:
                event_id = writer.submit(probe(runtime))
            assert stored_ids(runtime)[event_id] == 1
        finally:
            runtime.db.dispose()
    # The batch (on the submitter's own thread): the head locked in a transaction whose commit does
    # not wait for the disk, the events and the head's move in one statement...
    assert len(seen) == 3, seen
    lock, write, finish = seen
    assert lock.startswith("BEGIN; SET LOCAL synchronous_commit TO off;") and "FOR UPDATE" in lock
    assert write.startswith("WITH written AS (INSERT INTO audit_events") and "UPDATE audit_chain_head" in write
    # ...then its commit, and a transaction holding an id committed with the server's own setting:
    # it returns once the log is flushed past the batch, and only then does submit return.
    assert finish == "COMMIT; BEGIN; SELECT txid_current(); COMMIT"


def test_a_batch_too_big_for_one_statement_is_written_row_by_row(
    audit_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL takes at most 65,535 parameters in a statement; a batch past that (many events,
    # many resources) goes a row at a time. A limit of 10 sends every batch that way here.
    monkeypatch.setattr(chain_module, "_MAX_PARAMETERS", 10)
    writer = AuditWriter(audit_runtime.db)
    returned: list[str] = []
    run_threads(
        4, lambda number: returned.extend(writer.submit(probe(audit_runtime, number * 10 + n)) for n in range(5))
    )
    assert len(returned) == 20 and set(returned) <= set(stored_ids(audit_runtime))
    report = verify(audit_runtime)
    assert report.ok, [f.line() for f in report.findings]


def test_a_scope_submits_through_the_runtime_writer(audit_runtime: Runtime) -> None:
    scope = AuditScope(
        event_name="ListUsers",
        event_source="iam.amazonaws.com",
        client=ClientInfo(source_ip="192.0.2.7", user_agent="tests", request_id="req-1"),
        region="us-east-1",
        read_only=True,
    )
    event_id = scope.submit(audit_runtime.audit_writer, audit_runtime.now())
    audit_runtime.audit_writer.close()
    with audit_runtime.db.transaction() as session:
        record = session.scalars(select(AuditEvent.record).where(AuditEvent.event_id == event_id)).one()
    assert record["eventName"] == "ListUsers" and record["requestID"] == "req-1"
    assert record["managementEvent"] is True and record["eventCategory"] == "Management"
    assert "responseElements" in record and record["responseElements"] is None
    assert verify(audit_runtime).ok


def test_the_exit_handler_waits_for_every_writer(audit_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[AuditWriter] = []
    writer = AuditWriter(audit_runtime.db)
    monkeypatch.setattr(AuditWriter, "close", lambda self, timeout=10.0: waited.append(self))
    writer_module._close_all()
    assert writer in waited
