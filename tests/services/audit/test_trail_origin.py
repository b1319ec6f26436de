"""A trail cannot be wiped, cut back or emptied to its genesis unnoticed; a new or purged one verifies.

Each attack is made as someone with write access to the database makes it (raw SQL, no broker code),
then refused by the service-level verification and by `broker audit verify` (exit status 1 and the
line naming it). The trails are written at times the tests choose (a clocked runtime); the CLI
verifies at the real time, as an operator does.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Connection, delete, select, update

from broker.services.audit import trail as audit_trail
from broker.services.audit.digests import AuditTrailNotBegun, forget_seen_digests
from broker.services.audit.verify import Report
from broker.services.audit.worker import AuditWorker, seal
from broker.services.runtime import Runtime
from broker.store.audit.chain import GENESIS_HASH
from broker.store.models import AuditChainHead, AuditDigest, AuditResource
from tests.services.audit.support import EVENTS, Clock, digests, run_cli, tamper, trail, write_events

STEP = dt.timedelta(seconds=300)  # the default audit_digest_interval_seconds


@pytest.fixture
def clock() -> Clock:
    """The trail began (`broker init`) two hours ago."""
    return Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))


def run_broker(runtime: Runtime, clock: Clock, until: dt.datetime) -> None:
    """A broker serving until ``until``: an event, then the interval's digest, every 300 s."""
    while clock.moment + STEP <= until:
        clock.moment += STEP
        write_events(runtime, 1)
        assert seal(runtime, force=False, trigger="interval") is not None
    clock.moment = until


def service_verify(runtime: Runtime) -> Report:
    """What `broker audit verify` runs, at the runtime's time."""
    return audit_trail.verify(runtime, start=None, end=None, now=runtime.now())


def fields(row: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(row.document)
    return document


def cut_back(db: Connection, keep: int) -> None:
    """Delete every digest after #``keep`` and the events they and later ones cover, and point
    the chain head at the last event #``keep`` covers: the trail as it was when #``keep`` was signed."""
    kept = db.execute(select(AuditDigest.__table__).where(AuditDigest.digest_index == keep)).one()
    doomed = select(EVENTS.c.seq).where(EVENTS.c.chain_index > kept.last_index)
    db.execute(delete(AuditResource.__table__).where(AuditResource.__table__.c.event_seq.in_(doomed)))
    db.execute(delete(EVENTS).where(EVENTS.c.chain_index > kept.last_index))
    db.execute(delete(AuditDigest.__table__).where(AuditDigest.digest_index > keep))
    last_hash = fields(kept)["lastEventHash"]
    db.execute(update(AuditChainHead).values(last_index=kept.last_index, last_hash=last_hash))


def wipe(db: Connection) -> None:
    """Attack (a): events, their resource index and digests deleted, the head reset to the start."""
    db.execute(delete(AuditResource.__table__))
    db.execute(delete(EVENTS))
    db.execute(delete(AuditDigest.__table__))
    db.execute(update(AuditChainHead).values(last_index=0, last_hash=GENESIS_HASH))


def digest_ended_before(db: Connection, moment: dt.datetime) -> int:
    return max(row.digest_index for row in digests(db) if row.end_time <= moment)


def test_a_new_trail_begins_with_a_signed_genesis_and_verifies(audit_runtime: Runtime) -> None:
    with tamper(audit_runtime) as db:
        (genesis,) = digests(db)
    document = fields(genesis)
    assert document["digestTrigger"] == "genesis" and document["digestIndex"] == 1
    assert (document["eventCount"], document["previousEventHash"]) == (0, GENESIS_HASH)
    assert document["previousDigestSignature"] is None

    report = service_verify(audit_runtime)
    assert report.ok, report.findings
    assert report.origin is not None and "(genesis digest #1, written by `broker init`)" in report.origin
    result = run_cli(audit_runtime, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "(genesis digest #1, written by `broker init`)" in result.stdout

    # `broker init` again (as after every upgrade) begins no second trail.
    assert run_cli(audit_runtime, "init").exit_code == 0
    with tamper(audit_runtime) as db:
        assert [fields(row)["digestTrigger"] for row in digests(db)] == ["genesis"]


def test_a_wiped_and_reset_trail_is_refused_and_stays_refused(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        wipe(db)
    report = service_verify(audit_runtime)
    assert [f.kind for f in report.findings] == ["wiped"]
    assert report.findings[0].message.startswith("the trail holds no digest, not even the genesis digest")
    result = run_cli(audit_runtime, "audit", "verify")
    assert result.exit_code == 1
    assert "WIPED: the trail holds no digest, not even the genesis digest `broker init` writes" in result.stdout
    assert "audit trail verification failed: 1 problem(s)" in result.stderr

    # Nothing the broker does afterwards makes the wiped trail look new.
    assert run_cli(audit_runtime, "init").exit_code == 0
    with pytest.raises(AuditTrailNotBegun):
        seal(audit_runtime)
    refused = run_cli(audit_runtime, "audit", "digest")
    assert refused.exit_code == 1 and "the audit trail has no digest, not even the genesis digest" in refused.stderr
    AuditWorker(audit_runtime).run_once()  # the background writer logs it and writes nothing
    assert [f.kind for f in service_verify(audit_runtime).findings] == ["wiped"]
    assert run_cli(audit_runtime, "audit", "verify").exit_code == 1


def test_a_wiped_trail_with_events_left_is_refused(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        db.execute(delete(AuditDigest.__table__))
    report = service_verify(audit_runtime)
    assert [f.kind for f in report.findings] == ["wiped"]
    assert "are protected by nothing but the hash chain" in report.findings[0].message


def test_a_trail_cut_back_to_an_earlier_digest_is_refused(clocked_runtime: Runtime, clock: Clock) -> None:
    now = dt.datetime.now(dt.UTC)
    run_broker(clocked_runtime, clock, until=now)
    with tamper(clocked_runtime) as db:
        kept = digest_ended_before(db, now - dt.timedelta(minutes=40))
        cut_back(db, kept)
    report = service_verify(clocked_runtime)
    assert [f.kind for f in report.findings] == ["truncated"]
    message = report.findings[0].message
    assert message.startswith(f"the newest digest, #{kept}, was written at ")
    assert f"(the trail was cut back to #{kept})" in message and "a broker writes one every 300 s" in message
    result = run_cli(clocked_runtime, "audit", "verify")
    assert result.exit_code == 1
    assert any(line.startswith(f"TRUNCATED: the newest digest, #{kept},") for line in result.stdout.splitlines())


def test_a_trail_cut_back_under_a_running_broker_is_refused_after_it_writes_again(
    clocked_runtime: Runtime, clock: Clock
) -> None:
    now = dt.datetime.now(dt.UTC)
    run_broker(clocked_runtime, clock, until=now - dt.timedelta(minutes=20))
    with tamper(clocked_runtime) as db:
        seen = max(row.digest_index for row in digests(db))
        kept = digest_ended_before(db, now - dt.timedelta(minutes=60))
        cut_back(db, kept)
    # The broker keeps running: its next digests continue the cut-back trail, and say so, signed.
    run_broker(clocked_runtime, clock, until=now)
    report = service_verify(clocked_runtime)
    assert [f.kind for f in report.findings] == ["truncated"]
    assert report.findings[0].message.endswith(
        f"records that the trail had been cut back: the broker that wrote it had seen digest #{seen}, "
        f"and the trail then ended at digest #{kept}"
    )
    result = run_cli(clocked_runtime, "audit", "verify")
    assert result.exit_code == 1
    assert f"TRUNCATED: digest #{kept + 1} (written " in result.stdout


def test_a_trail_cut_back_while_no_broker_ran_shows_as_a_gap(clocked_runtime: Runtime, clock: Clock) -> None:
    """What no check inside the database can prove: the operator is shown the gap to judge."""
    now = dt.datetime.now(dt.UTC)
    run_broker(clocked_runtime, clock, until=now - dt.timedelta(minutes=50))
    with tamper(clocked_runtime) as db:
        kept = digest_ended_before(db, now - dt.timedelta(minutes=90))
        cut_back(db, kept)
    forget_seen_digests()  # every broker process restarted
    run_broker(clocked_runtime, clock, until=now)
    report = service_verify(clocked_runtime)
    assert report.ok, report.findings
    assert any(
        w.startswith("no digest between") and f"(#{kept}) and" in w and "or digests were deleted while none ran" in w
        for w in report.warnings
    ), report.warnings


def test_a_trail_emptied_to_its_genesis_is_refused_once_digests_are_due(clocked_runtime: Runtime, clock: Clock) -> None:
    now = dt.datetime.now(dt.UTC)
    run_broker(clocked_runtime, clock, until=now)
    with tamper(clocked_runtime) as db:
        db.execute(delete(AuditResource.__table__))
        db.execute(delete(EVENTS))
        db.execute(delete(AuditDigest.__table__).where(AuditDigest.digest_index > 1))
        db.execute(update(AuditChainHead).values(last_index=0, last_hash=GENESIS_HASH))
    report = service_verify(clocked_runtime)
    assert [f.kind for f in report.findings] == ["truncated"]
    assert report.findings[0].message.startswith("the newest digest is the genesis digest #1 that `broker init` wrote")
    assert "2 h ago" in report.findings[0].message
    result = run_cli(clocked_runtime, "audit", "verify")
    assert result.exit_code == 1
    assert "TRUNCATED: the newest digest is the genesis digest #1" in result.stdout


def test_a_new_installation_that_never_served_is_told_how_to_go_on(clocked_runtime: Runtime, clock: Clock) -> None:
    # `broker init` ran two hours ago; no broker has served since.
    clock.moment = dt.datetime.now(dt.UTC)
    report = service_verify(clocked_runtime)
    assert [f.kind for f in report.findings] == ["truncated"]
    assert report.findings[0].message.endswith(
        "or no broker has run since `broker init` (then run `broker audit digest` and verify again)"
    )
    assert run_cli(clocked_runtime, "audit", "verify").exit_code == 1
    written = run_cli(clocked_runtime, "audit", "digest")
    assert written.exit_code == 0 and written.stdout.startswith("digest #2: "), written.output
    result = run_cli(clocked_runtime, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "#1 is the genesis digest and no broker had started yet" in result.stdout


def test_the_worker_signs_why_it_wrote_and_a_clean_stop_explains_the_gap(
    clocked_runtime: Runtime, clock: Clock
) -> None:
    clock.moment += STEP
    worker = AuditWorker(clocked_runtime)
    worker.run_once()
    write_events(clocked_runtime, 1)
    worker.start(seal_at_exit=False).stop()  # a clean shutdown seals what came since
    clock.moment = dt.datetime.now(dt.UTC)
    forget_seen_digests()
    AuditWorker(clocked_runtime).run_once()  # started again
    with tamper(clocked_runtime) as db:
        triggers = [fields(row)["digestTrigger"] for row in digests(db)]
    assert triggers == ["genesis", "interval", "shutdown", "interval"]
    report = service_verify(clocked_runtime)
    assert report.ok, report.findings
    assert any("#3 was written at a clean shutdown" in w for w in report.warnings), report.warnings
