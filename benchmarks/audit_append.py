"""Audit appends per second: the group-commit writer against a transaction per event, side by side.

Both sides append the same kind of event (a read-only ``GetUser`` with one resource) from
``--threads`` threads at once, on one database:

- per transaction: each event in a write transaction of its own (``record_event`` in
  ``db.transaction()``), chained at commit under the chain-head lock: what every audited read
  did before the writer;
- writer: each thread calls ``AuditWriter.submit``, which returns once the batch holding the
  event has committed; one transaction, one chain-head lock and one head update per batch.

With ``--batch-path`` the first side is the same writer sending its batches through an ORM
session (as before the driver path), so the two batch paths are compared. With ``--handoff`` the
first side is the writer as it was before the leader design: a thread of its own takes the queue and writes each
batch while the submitters wait for it (:class:`HandoffWriter`, the same batches on the same
driver path), so the hand-off to that thread and back is what differs; CPU per event (the whole
process's) is printed with the rates. Run it with ``--threads 1`` (a lone request) and ``8``.

Rounds alternate the two sides (which goes first alternates too) in one process; each side's
rate is the median of its rounds, and the ratio the median of each round's ratio. The writer's
mean batch size is printed with it. At the end the trail is verified (the chain must hold).
SQLite always; PostgreSQL with ``--postgres [URL]``, or by default when 127.0.0.1:5432 answers
(``--no-postgres`` skips it). Run: ``.venv/bin/python benchmarks/audit_append.py [--rounds 5]
[--threads 8] [--per-thread 100]``. Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from broker.crypto.keys import ensure_keys, load_keys
from broker.services.audit import ANONYMOUS, AuditWriter, PreparedEvent, build_event, record_event
from broker.services.audit._record import to_append
from broker.services.audit.digests import write_genesis
from broker.services.audit.verify import verify_trail
from broker.services.audit.writer import MAX_BATCH
from broker.services.audit.writer import _append as append_batch
from broker.store import Database
from broker.store.audit.snapshots import Reader

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EVENT = {
    "event_name": "GetUser",
    "event_source": "iam.amazonaws.com",
    "actor": ANONYMOUS,
    "region": "us-east-1",
    "source_ip": "192.0.2.1",
    "user_agent": "benchmark",
    "read_only": True,
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parameters(number: int) -> dict[str, object]:
    return {
        "request_id": str(uuid.uuid4()),
        "request_parameters": {"userName": f"user-{number}"},
        "resources": [{"ARN": f"arn:aws:iam::123456789012:user/user-{number}"}],
    }


def per_transaction(db: Database) -> Callable[[int], None]:
    def append(number: int) -> None:
        with db.transaction() as tx:
            record_event(tx, now=_now(), **EVENT, **_parameters(number))  # type: ignore[arg-type]

    return append


def through_writer(writer: AuditWriter | HandoffWriter) -> Callable[[int], None]:
    def append(number: int) -> None:
        writer.submit(build_event(now=_now(), **EVENT, **_parameters(number)))  # type: ignore[arg-type]

    return append


class HandoffWriter:
    """The baseline for ``--handoff``: the group-commit writer as it was before the leader design, reduced to
    its hand-offs. One thread of its own takes everything queued, writes it as one batch (the same
    ``append_batch`` as the writer) and wakes the submitters, who wait for it meanwhile."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[tuple[object, threading.Event]] = deque()
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def submit(self, event: PreparedEvent) -> str:
        done = threading.Event()
        with self._lock:
            self._queue.append((to_append(event), done))
            self._wake.notify()
        done.wait()
        return event.event_id

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
            append_batch(self._db, [event for event, _done in batch])  # type: ignore[misc]
            for _event, done in batch:
                done.set()
            time.sleep(0)  # as it did: let the woken submitters queue their next events


def rate(append: Callable[[int], None], threads: int, per_thread: int) -> float:
    """Events per second with ``threads`` threads appending ``per_thread`` events each."""
    start = threading.Barrier(threads + 1)

    def work(offset: int) -> None:
        start.wait()
        for number in range(per_thread):
            append(offset + number)

    workers = [threading.Thread(target=work, args=(n * per_thread,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - began)


@contextmanager
def database(workdir: Path, postgres: str | None) -> Iterator[Database]:
    if postgres is None:
        db = Database(f"sqlite:///{workdir / 'audit.db'}")
        db.upgrade()
        yield db
        db.dispose()
        return
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(f"{postgres}?options=-csearch_path%3D{schema}")
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def reachable(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def run(name: str, db: Database, args: argparse.Namespace, certs: Path) -> None:
    with db.transaction() as tx:  # as `broker init` begins a trail: verification requires it
        write_genesis(tx, load_keys(str(certs)).audit_keys, account_id="123456789012", region="us-east-1", now=_now())
    writer = AuditWriter(db)
    baseline: AuditWriter | HandoffWriter | None = None
    if args.handoff:
        baseline = HandoffWriter(db)
        sides = {"per transaction": through_writer(baseline), "writer": through_writer(writer)}
    elif args.batch_path:
        # The writer's batch through an ORM session (before) against on the driver (now).
        baseline = AuditWriter(db)
        baseline.on_driver = False
        sides = {"per transaction": through_writer(baseline), "writer": through_writer(writer)}
    else:
        sides = {"per transaction": per_transaction(db), "writer": through_writer(writer)}
    rates: dict[str, list[float]] = {side: [] for side in sides}
    cpu: dict[str, list[float]] = {side: [] for side in sides}
    ratios: list[float] = []
    rate(sides["writer"], args.threads, 5)  # warm both up: connections, statement caches
    rate(sides["per transaction"], args.threads, 5)
    before = writer.stats()
    for number in range(args.rounds):
        order = list(sides) if number % 2 == 0 else list(reversed(sides))
        measured = {}
        for side in order:
            started = time.process_time()
            measured[side] = rate(sides[side], args.threads, args.per_thread)
            cpu[side].append((time.process_time() - started) / (args.threads * args.per_thread) * 1e6)
        for side, value in measured.items():
            rates[side].append(value)
        ratios.append(measured["writer"] / measured["per transaction"])
    after = writer.stats()
    writer.close()
    if baseline is not None:
        baseline.close()
    with Reader(db) as reader, reader.snapshot() as tx:
        report = verify_trail(tx, load_keys(str(certs)).audit_keys)
    batch = (after.events - before.events) / max(after.batches - before.batches, 1)
    old, new = statistics.median(rates["per transaction"]), statistics.median(rates["writer"])
    old_cpu, new_cpu = statistics.median(cpu["per transaction"]), statistics.median(cpu["writer"])
    first = "writer thread hand-off" if args.handoff else "writer, session batches" if args.batch_path else None
    print(
        f"{name:<10} {args.threads} threads, {args.rounds} rounds of {args.threads * args.per_thread} events a side: "
        f"{first or 'per transaction'} {old:,.0f} events/s ({old_cpu:,.0f} us CPU each), "
        f"writer {new:,.0f} events/s ({new_cpu:,.0f} us CPU each) "
        f"(mean batch {batch:.1f}), ratio {statistics.median(ratios):.2f}x; "
        f"verify {'ok' if report.ok else 'FAILED'} over {report.events_checked:,} events"
    )
    for finding in report.findings[:5]:
        print(f"           {finding.line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=100, help="events each thread appends per round and side")
    parser.add_argument("--postgres", nargs="?", const=POSTGRES_URL, default=None, metavar="URL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only, even if PostgreSQL answers")
    parser.add_argument(
        "--batch-path",
        action="store_true",
        help="compare the writer's batches through an ORM session (first column) with on the driver",
    )
    parser.add_argument(
        "--handoff",
        action="store_true",
        help="compare a writer thread that submitters hand their events to (first column) with the leader",
    )
    args = parser.parse_args()
    postgres = args.postgres
    if postgres is None and not args.no_postgres and reachable(POSTGRES_URL):
        postgres = POSTGRES_URL
    with tempfile.TemporaryDirectory() as workdir:
        certs = Path(workdir) / "certs"
        ensure_keys(certs, "benchmark")
        with database(Path(workdir), None) as db:
            run("SQLite", db, args, certs)
        if postgres is not None:
            with database(Path(workdir), postgres) as db:
                run("PostgreSQL", db, args, certs)


if __name__ == "__main__":
    main()
