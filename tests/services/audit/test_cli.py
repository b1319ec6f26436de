"""`broker audit export | verify-export | tail | digest | purge`, and the migration that chains old events."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from broker.services.audit.worker import seal
from broker.services.runtime import Runtime
from broker.store.db import MIGRATIONS_DIR, Database
from broker.store.models import AuditChainHead, AuditDigest, AuditEvent
from tests.services.audit.support import EVENTS, Clock, run_cli, tamper, verify, write_events


def _gz_json(path: Path) -> object:
    return json.loads(gzip.decompress(path.read_bytes()))


def test_export_writes_cloudtrail_files_that_verify_with_the_public_keys(
    audit_runtime: Runtime, tmp_path: Path
) -> None:
    write_events(audit_runtime, 5)
    seal(audit_runtime)
    write_events(audit_runtime, 3)  # not digested yet: export seals them first
    out = tmp_path / "export"
    result = run_cli(audit_runtime, "audit", "export", "--dir", str(out), "--format", "cloudtrail")
    assert result.exit_code == 0, result.output
    logs = sorted(out.glob("AWSLogs/123456789012/CloudTrail/us-east-1/*/*/*/*.json.gz"))
    digest_files = sorted(out.glob("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/*/*/*/*.json.gz"))
    # The genesis digest `broker init` wrote covers no event: a digest file without a log file.
    assert len(logs) == 2 and len(digest_files) == 3
    records = [r for path in logs for r in _gz_json(path)["Records"]]  # type: ignore[index]
    assert len(records) == 9  # CreateAccount at init, then 5 + 3
    assert {r["eventName"] for r in records} == {"CreateAccount", "CreateUser"}
    assert "exported 9 events in 2 log files and 3 digest files" in result.output
    assert _gz_json(digest_files[0])["logFiles"] == []
    first_digest = _gz_json(digest_files[1])
    assert first_digest["logFiles"][0]["object"].endswith(logs[0].name)  # type: ignore[index]

    keys = tmp_path / "audit-keys.json"
    keys.write_text(json.dumps(audit_runtime.keys.audit_keys.jwks()))
    checked = run_cli(audit_runtime, "audit", "verify-export", str(out), "--keys", str(keys))
    assert checked.exit_code == 0, checked.output
    assert "checked 3 digest files and 9 events" in checked.output

    # Someone edits a record in the shipped copy and re-gzips it.
    content = _gz_json(logs[0])
    content["Records"][1]["sourceIPAddress"] = "203.0.113.9"  # type: ignore[index]
    logs[0].write_bytes(gzip.compress(json.dumps(content).encode()))
    broken = run_cli(audit_runtime, "audit", "verify-export", str(out), "--keys", str(keys))
    assert broken.exit_code == 1
    assert "do not hash to the signed lastEventHash" in broken.output
    assert "SHA-256 differs" in broken.output

    # The export itself is on the record.
    with audit_runtime.db.transaction() as session:
        names = session.scalars(select(AuditEvent.event_name).order_by(AuditEvent.chain_index.desc()).limit(1))
        assert list(names) == ["ExportAuditEvents"]


def test_verify_export_believes_no_unsigned_excuse_and_reports_unreadable_files(
    audit_runtime: Runtime, tmp_path: Path
) -> None:
    write_events(audit_runtime, 5)
    seal(audit_runtime)
    out = tmp_path / "export"
    assert run_cli(audit_runtime, "audit", "export", "--dir", str(out)).exit_code == 0
    keys = tmp_path / "audit-keys.json"
    keys.write_text(json.dumps(audit_runtime.keys.audit_keys.jwks()))
    logs = sorted(out.glob("AWSLogs/123456789012/CloudTrail/us-east-1/*/*/*/*.json.gz"))
    digest_files = sorted(out.glob("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/*/*/*/*.json.gz"))
    # A record dropped from the copy, and the digest file (whose flag is not signed) told that
    # its events are unavailable, as only a purge's anchor may be: it used to pass.
    content = _gz_json(logs[0])
    del content["Records"][1]  # type: ignore[attr-defined]
    logs[0].write_bytes(gzip.compress(json.dumps(content).encode()))
    excused = _gz_json(digest_files[1])
    excused["eventsAvailable"] = False  # type: ignore[index]
    digest_files[1].write_bytes(gzip.compress(json.dumps(excused).encode()))
    broken = run_cli(audit_runtime, "audit", "verify-export", str(out), "--keys", str(keys))
    assert broken.exit_code == 1 and "only the oldest digest of a copy may" in broken.output, broken.output
    # A digest file whose document is not JSON, or a log file that is not records: problems, not a crash.
    excused["digestDocument"] = "not json"  # type: ignore[index]
    digest_files[1].write_bytes(gzip.compress(json.dumps(excused).encode()))
    logs[0].write_bytes(gzip.compress(b"not json"))
    unreadable = run_cli(audit_runtime, "audit", "verify-export", str(out), "--keys", str(keys))
    assert unreadable.exit_code == 1 and isinstance(unreadable.exception, SystemExit), unreadable.exception
    assert "is not a JSON object" in unreadable.output, unreadable.output


def test_export_as_json_lines_from_a_time(audit_runtime: Runtime, tmp_path: Path) -> None:
    write_events(audit_runtime, 2)
    seal(audit_runtime)
    since = dt.datetime.now(dt.UTC)
    write_events(audit_runtime, 4)
    out = tmp_path / "jsonl"
    result = run_cli(
        audit_runtime, "audit", "export", "--since", since.isoformat(), "--dir", str(out), "--format", "jsonl"
    )
    assert result.exit_code == 0, result.output
    (log,) = out.glob("AWSLogs/*/CloudTrail/*/*/*/*/*.jsonl.gz")
    lines = gzip.decompress(log.read_bytes()).decode().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["eventName"] == "CreateUser" for line in lines)
    assert run_cli(audit_runtime, "audit", "verify-export", str(out)).exit_code == 0


def test_tail_prints_recent_events_then_follows_new_ones(audit_runtime: Runtime) -> None:
    ids = write_events(audit_runtime, 3)
    recent = run_cli(audit_runtime, "audit", "tail", "-n", "2", "--no-follow")
    assert [json.loads(line)["eventID"] for line in recent.stdout.splitlines()] == ids[1:]

    later: list[str] = []

    def writer() -> None:
        time.sleep(0.5)
        later.extend(write_events(audit_runtime, 3))

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    followed = run_cli(
        audit_runtime, "audit", "tail", "-n", "0", "--max-events", "3", "--timeout", "30", "--poll", "0.1"
    )
    thread.join()
    assert followed.exit_code == 0, followed.output
    assert [json.loads(line)["eventID"] for line in followed.stdout.splitlines()] == later
    assert time.monotonic() - started < 15
    quiet = run_cli(audit_runtime, "audit", "tail", "-n", "1", "--timeout", "0.3", "--format", "text")
    assert (
        quiet.exit_code == 0 and quiet.stdout.count("\n") == 1 and "iam.amazonaws.com CreateUser tester" in quiet.stdout
    )


def test_digest_command_and_one_digest_per_interval(audit_runtime: Runtime) -> None:
    write_events(audit_runtime, 2)
    result = run_cli(audit_runtime, "audit", "digest")
    # Digest #1 is the genesis `broker init` wrote, before its CreateAccount event.
    assert result.exit_code == 0 and result.stdout.startswith("digest #2: events #1..#3 (3 events)")
    assert seal(audit_runtime, force=False) is None  # the interval (300 s) has not passed
    again = run_cli(audit_runtime, "audit", "digest")
    assert again.stdout.startswith("digest #3: events #4..#3 (0 events)")  # a heartbeat: nothing since
    assert verify(audit_runtime).ok


def test_purge_keeps_the_trail_verifiable_from_the_first_remaining_digest(
    clocked_runtime: Runtime, clock: Clock
) -> None:
    # The trail began 30 days ago (the genesis digest #1, then CreateAccount).
    now = dt.datetime.now(dt.UTC)
    for days_ago in (20, 10, 5):
        clock.moment = now - dt.timedelta(days=days_ago)
        write_events(clocked_runtime, 3)
        seal(clocked_runtime)
    clock.moment = now
    write_events(clocked_runtime, 2)
    seal(clocked_runtime)  # as a running broker does every interval
    assert run_cli(clocked_runtime, "audit", "purge").exit_code == 1  # retention 0: keep forever
    dry = run_cli(clocked_runtime, "audit", "purge", "--retention-days", "7", "--dry-run")
    assert "would delete 7 events and 2 digests" in dry.stdout, dry.output
    done = run_cli(clocked_runtime, "audit", "purge", "--retention-days", "7")
    assert done.exit_code == 0, done.output
    assert "digest #3 stays as the trail's anchor" in done.stdout
    report = verify(clocked_runtime)
    assert report.ok, report.findings
    assert report.first_index == 8  # the events of digest #4 on, then the purge's own event
    assert report.origin is not None and "after digest #3" in report.origin
    # The genesis digest went with the purge; the trail still verifies, as `broker audit verify` says.
    verified = run_cli(clocked_runtime, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "the trail starts after digest #3" in verified.stdout
    with clocked_runtime.db.transaction() as session:
        purge = session.scalars(select(AuditEvent).where(AuditEvent.event_name == "PurgeAuditEvents")).one()
        assert purge.record["requestParameters"]["anchorDigestIndex"] == 3
        assert purge.record["responseElements"] == {"eventsDeleted": 7, "digestsDeleted": 2}

    # Deleting the oldest remaining events is not a purge.
    with tamper(clocked_runtime) as db:
        db.execute(delete(EVENTS).where(EVENTS.c.chain_index <= 9))
    findings = verify(clocked_runtime).findings
    assert [(f.kind, f.message) for f in findings] == [("deleted", "events #8..#9 were deleted")]


def test_the_migration_chains_the_events_already_there(tmp_path: Path, database_url: str, keys_dir: Path) -> None:
    from alembic import command
    from alembic.config import Config

    db = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with db.engine.begin() as connection:
        for number in range(3):
            event_id = str(uuid.uuid4())
            record = {
                "eventID": event_id,
                "eventName": "CreateRole",
                "eventSource": "iam.amazonaws.com",
                "eventTime": "2026-05-01T12:00:00Z",
                "readOnly": False,
                "userIdentity": {"type": "Root"},
                "resources": [{"ARN": f"arn:aws:iam::123456789012:role/r{number}"}],
            }
            connection.execute(
                text(
                    "INSERT INTO audit_events (event_id, event_time, event_source, event_name, read_only, record) "
                    "VALUES (:id, :time, 'iam.amazonaws.com', 'CreateRole', false, :record)"
                ),
                {"id": event_id, "time": dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), "record": json.dumps(record)},
            )
    db.dispose()
    from tests.support.brokers import make_runtime, make_settings

    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, "http://127.0.0.1:9"))
    try:
        with runtime.db.transaction() as session:
            head = session.get(AuditChainHead, 1)
            assert head is not None and head.last_index == 4  # three old events, then CreateAccount
            indexes = session.scalars(select(AuditEvent.chain_index).order_by(AuditEvent.seq))
            assert list(indexes) == [1, 2, 3, 4]
        report = verify(runtime)
        assert report.ok, report.findings
        assert report.events_checked == 4
    finally:
        runtime.db.dispose()


@pytest.mark.parametrize("option", ["--since", "--from"])
def test_bad_times_are_one_line(audit_runtime: Runtime, tmp_path: Path, option: str) -> None:
    command = ["export", "--dir", str(tmp_path / "x")] if option == "--since" else ["verify"]
    result = run_cli(audit_runtime, "audit", *command, option, "soon")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"broker: {option}: expected")


def test_purge_does_not_take_a_digests_columns_over_its_signed_document(clocked_runtime: Runtime, clock: Clock) -> None:
    # The purge picks its anchor by the digests' end_time column. Set years back, that column made
    # it delete seconds-old events, and the trail still verified once the column was put back.
    now = dt.datetime.now(dt.UTC)
    clock.moment = now
    write_events(clocked_runtime, 3)
    seal(clocked_runtime)
    with tamper(clocked_runtime) as db:
        newest = db.execute(
            select(AuditDigest.digest_index, AuditDigest.end_time).order_by(AuditDigest.digest_index.desc())
        ).first()
        assert newest is not None
        db.execute(
            update(AuditDigest)
            .where(AuditDigest.digest_index == newest[0])
            .values(end_time=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )
    refused = run_cli(clocked_runtime, "audit", "purge", "--retention-days", "30")
    assert "deleted" not in refused.stdout, refused.output
    with clocked_runtime.db.transaction() as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.event_name == "PurgeAuditEvents")).first() is None
    with tamper(clocked_runtime) as db:
        db.execute(update(AuditDigest).where(AuditDigest.digest_index == newest[0]).values(end_time=newest[1]))
    assert verify(clocked_runtime).ok
