"""`broker audit verify` names every event modified, deleted, inserted or reordered in the database."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import delete, insert, text, update

from broker.services.audit.chain import chain_hash, indexed_columns
from broker.services.audit.worker import seal
from broker.services.runtime import Runtime
from broker.store.models import AuditChainHead, AuditDigest
from tests.services.audit.support import (
    EVENTS,
    digests,
    forge,
    last_index,
    make_room,
    modify_record,
    rehash_from,
    row,
    run_cli,
    swap,
    tamper,
    trail,
    verify,
    write_events,
)


def test_an_untouched_trail_verifies_and_says_what_only_the_chain_protects(audit_runtime: Runtime) -> None:
    trail(audit_runtime, sealed=6, unsealed=2)
    report = verify(audit_runtime)
    assert report.ok, report.findings
    assert report.first_index == 1 and report.last_index == report.events_checked
    assert any("2 event(s)" in w and "newer than the newest digest" in w for w in report.warnings)
    result = run_cli(audit_runtime, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit trail verified" in result.output


def test_a_modified_record_is_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        event_id = modify_record(db, 4, sourceIPAddress="203.0.113.66")
    report = verify(audit_runtime)
    assert [(f.kind, f.chain_index, f.event_id) for f in report.findings] == [("modified", 4, event_id)]


def test_a_modified_lookup_column_is_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        db.execute(update(EVENTS).where(EVENTS.c.chain_index == 5).values(username="someone-else"))
    (finding,) = verify(audit_runtime).findings
    assert finding.kind == "modified" and finding.chain_index == 5 and "username" in finding.message


def test_a_deleted_event_is_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        db.execute(delete(EVENTS).where(EVENTS.c.chain_index == 6))
    (finding,) = verify(audit_runtime).findings
    assert finding.kind == "deleted" and finding.message == "events #6 were deleted"


def test_deleting_the_newest_events_is_caught_by_the_head(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        last = last_index(db)
        db.execute(delete(EVENTS).where(EVENTS.c.chain_index >= last - 1))
    (finding,) = verify(audit_runtime).findings
    assert finding.kind == "deleted" and f"#{last - 1}..#{last}" in finding.message


def test_a_deleted_event_with_the_rest_renumbered_is_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        db.execute(delete(EVENTS).where(EVENTS.c.chain_index == 5))
        db.execute(update(EVENTS).where(EVENTS.c.chain_index > 5).values(chain_index=-EVENTS.c.chain_index))
        db.execute(update(EVENTS).where(EVENTS.c.chain_index < 0).values(chain_index=-EVENTS.c.chain_index - 1))
        db.execute(update(AuditChainHead).values(last_index=AuditChainHead.last_index - 1))
    findings = verify(audit_runtime).findings
    assert [(f.kind, f.chain_index) for f in findings] == [("deleted", 5)]
    assert "deleted" in findings[0].message


def test_an_inserted_event_is_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        make_room(db, 5)
        db.execute(update(AuditChainHead).values(last_index=AuditChainHead.last_index + 1))
        # A careful forgery: it links to the real event #4 and its own hash is right.
        forged = forge(db, 5, row(db, 4).event_hash)
    findings = verify(audit_runtime).findings
    assert [(f.kind, f.chain_index, f.event_id) for f in findings] == [("inserted", 5, forged)]


def test_an_event_appended_past_the_head_is_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        last = last_index(db)
        forged = forge(db, last + 1, row(db, last).event_hash)
    (finding,) = verify(audit_runtime).findings
    assert (finding.kind, finding.chain_index, finding.event_id) == ("inserted", last + 1, forged)
    assert "beyond the chain head" in finding.message


def test_reordered_events_are_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        first, second = swap(db, 4, 5)
    findings = verify(audit_runtime).findings
    assert [f.kind for f in findings] == ["reordered"]
    # One move undoes a swap; the finding names both events.
    assert first in findings[0].message and second in findings[0].message


def test_an_event_moved_far_is_the_one_named(audit_runtime: Runtime) -> None:
    trail(audit_runtime, sealed=10, unsealed=0)
    with tamper(audit_runtime) as db:
        moved = str(row(db, 3).event_id)
        db.execute(update(EVENTS).where(EVENTS.c.chain_index == 3).values(chain_index=-3))
        for index in range(4, 9):
            db.execute(update(EVENTS).where(EVENTS.c.chain_index == index).values(chain_index=index - 1))
        db.execute(update(EVENTS).where(EVENTS.c.chain_index == -3).values(chain_index=8))
    findings = verify(audit_runtime).findings
    assert [(f.kind, f.event_id) for f in findings] == [("reordered", moved)]


def test_a_rewrite_with_recomputed_hashes_is_caught_by_the_signed_digest(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        modify_record(db, 3, eventName="GetUser")
        db.execute(update(EVENTS).where(EVENTS.c.chain_index == 3).values(event_name="GetUser"))
        rehash_from(db, 3)
    findings = verify(audit_runtime).findings
    assert [f.kind for f in findings] == ["rewritten"]
    assert "digest #2" in findings[0].message  # #1 is the genesis, over no event


def test_one_event_rehashed_alone_is_named_as_modified(audit_runtime: Runtime) -> None:
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        modify_record(db, 4, sourceIPAddress="203.0.113.66")
        current = row(db, 4)
        db.execute(
            update(EVENTS)
            .where(EVENTS.c.chain_index == 4)
            .values(event_hash=chain_hash(current.prev_hash, current.record))
        )
    findings = verify(audit_runtime).findings
    assert [(f.kind, f.chain_index) for f in findings] == [("modified", 4)]
    assert "re-hashed" in findings[0].message


def test_tampered_and_deleted_digests_are_named(audit_runtime: Runtime) -> None:
    write_events(audit_runtime, 2)
    for _ in range(3):
        seal(audit_runtime)
        write_events(audit_runtime, 1)
    with tamper(audit_runtime) as db:
        first = digests(db)[0]
        altered = json.loads(first.document) | {"eventCount": 99}
        db.execute(
            update(AuditDigest)
            .where(AuditDigest.digest_index == 1)
            .values(document=json.dumps(altered, sort_keys=True, separators=(",", ":")))
        )
        db.execute(delete(AuditDigest).where(AuditDigest.digest_index == 2))
    messages = [f.message for f in verify(audit_runtime).findings if f.kind == "digest"]
    assert "digest #1: the signature does not verify (altered or forged)" in messages
    assert "digests #2 were deleted" in messages


def test_the_cli_names_each_kind_and_fails(audit_runtime: Runtime) -> None:
    trail(audit_runtime, sealed=12, unsealed=2)
    with tamper(audit_runtime) as db:
        modified = modify_record(db, 3, errorCode="AccessDenied")
        deleted = str(row(db, 6).event_id)
        db.execute(delete(EVENTS).where(EVENTS.c.chain_index == 6))
        first, second = swap(db, 9, 10)
        make_room(db, 12)
        db.execute(update(AuditChainHead).values(last_index=AuditChainHead.last_index + 1))
        inserted = forge(db, 12, row(db, 11).event_hash)
    result = run_cli(audit_runtime, "audit", "verify")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("MODIFIED: event #3") and modified in line for line in lines), result.output
    assert "DELETED: events #6 were deleted" in lines, result.output
    assert any(line.startswith("INSERTED: event #12") and inserted in line for line in lines), result.output
    assert any(line.startswith("REORDERED:") and first in line and second in line for line in lines), result.output
    assert deleted not in result.output
    assert "audit trail verification failed: 4 problem(s)" in result.stderr
    report = json.loads(run_cli(audit_runtime, "audit", "verify", "--json").stdout)
    assert report["ok"] is False
    assert sorted(f["kind"] for f in report["findings"]) == ["deleted", "inserted", "modified", "reordered"]


def test_verify_over_a_time_range_starts_at_a_signed_digest(audit_runtime: Runtime) -> None:
    write_events(audit_runtime, 4)
    seal(audit_runtime)
    middle = dt.datetime.now(dt.UTC)
    write_events(audit_runtime, 4)
    seal(audit_runtime)
    write_events(audit_runtime, 2)
    with tamper(audit_runtime) as db:
        modify_record(db, 2, sourceIPAddress="198.51.100.1")  # before --from: not checked
    ranged = verify(audit_runtime, start=middle)
    assert ranged.ok and ranged.first_index is not None and ranged.first_index > 2
    assert not verify(audit_runtime).ok
    result = run_cli(audit_runtime, "audit", "verify", "--from", middle.isoformat(), "--to", "0s")
    assert result.exit_code == 0, result.output
    bad = run_cli(audit_runtime, "audit", "verify", "--from", "yesterday")
    assert bad.exit_code == 1 and bad.stderr.startswith("broker: --from: expected an ISO 8601 time")


def test_a_purge_record_outside_the_chain_cannot_move_where_verification_starts(audit_runtime: Runtime) -> None:
    # A forged PurgeAuditEvents row naming the newest digest as its anchor used to make verify
    # start after every sealed event, which could then be edited or deleted unseen.
    trail(audit_runtime, sealed=6, unsealed=2)
    seal(audit_runtime)
    with tamper(audit_runtime) as db:
        newest = digests(db)[-1].digest_index
        record = {
            "eventName": "PurgeAuditEvents",
            "eventID": "forged",
            "requestParameters": {"anchorDigestIndex": newest},
        }
        _insert(db, record, index=0, event_hash="f" * 64, **indexed_columns(record))
        edited = modify_record(db, 3, sourceIPAddress="203.0.113.66")
    kinds = [(f.kind, f.chain_index) for f in verify(audit_runtime).findings]
    assert ("inserted", 0) in kinds and ("modified", 3) in kinds, kinds
    assert edited


def test_an_event_stored_before_the_trail_starts_is_named(audit_runtime: Runtime) -> None:
    # Verification reads from the trail's start; LookupEvents reads everything. A row at position
    # -1 went unchecked while LookupEvents listed it.
    trail(audit_runtime)
    with tamper(audit_runtime) as db:
        forge(db, -1, "0" * 64, name="DeleteUser")
    (finding,) = verify(audit_runtime).findings
    assert finding.kind == "inserted" and "stored before #1" in finding.message


def test_a_chain_head_moved_to_another_position_is_named(audit_runtime: Runtime) -> None:
    # With its hash kept, a head at another position made the next audited write fail (a position
    # taken) or leave a gap read as deleted events, while verify said the trail was whole.
    trail(audit_runtime)
    for moved in (3, 50):
        with tamper(audit_runtime) as db:
            last = last_index(db)
            db.execute(update(AuditChainHead).values(last_index=moved))
        (finding,) = verify(audit_runtime).findings
        assert finding.kind == "head" and f"position #{moved}" in finding.message
        with tamper(audit_runtime) as db:
            db.execute(update(AuditChainHead).values(last_index=last))
    assert verify(audit_runtime).ok


def _insert(db: Any, record: dict[str, Any], *, index: int, event_hash: str, **columns: Any) -> None:
    """A row written past the broker: ``record`` at ``index``, linking to 64 zeros."""
    db.execute(
        insert(EVENTS).values(
            event_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            record=record,
            chain_index=index,
            prev_hash="0" * 64,
            event_hash=event_hash,
            **columns,
        )
    )


def _append_hashed(db: Any, record: dict[str, Any]) -> None:
    """A row whose hash holds over its own (odd) record: what a forger can always write."""
    columns = {"event_id": record["eventID"], "event_source": "x", "event_name": "x", "read_only": False}
    _insert(db, record, index=100, event_hash=chain_hash("0" * 64, record), management_event=True, **columns)


@pytest.mark.parametrize(
    "damage",
    ["digest-document", "identity-not-an-object", "resources-not-a-list", "record-not-json", "record-too-deep"],
)
def test_hostile_stored_data_is_a_finding_never_a_crash(audit_runtime: Runtime, damage: str) -> None:
    trail(audit_runtime, sealed=6, unsealed=2)
    with tamper(audit_runtime) as db:
        sqlite = db.dialect.name == "sqlite"
        if damage == "digest-document":
            db.execute(update(AuditDigest).where(AuditDigest.digest_index == 1).values(document="{}"))
        elif damage == "identity-not-an-object":
            _append_hashed(db, {"eventID": "forged-1", "userIdentity": "x", "eventTime": "2026-01-01T00:00:00Z"})
        elif damage == "resources-not-a-list":
            _append_hashed(db, {"eventID": "forged-2", "resources": 5, "eventTime": "2026-01-01T00:00:00Z"})
        elif sqlite:  # PostgreSQL's json type refuses such text when it is written
            nested = "[" * 100_000 + "]" * 100_000
            value = "not json" if damage == "record-not-json" else nested
            db.execute(text("UPDATE audit_events SET record = :value WHERE chain_index = 4"), {"value": value})
    report = verify(audit_runtime)  # returns: before, each of these raised out of verification
    assert not report.ok or (damage.startswith("record-") and not sqlite)
    if damage.startswith("record-") and sqlite:
        assert [(f.kind, f.chain_index) for f in report.findings] == [("modified", 4)]
    result = run_cli(audit_runtime, "audit", "verify")
    assert result.exit_code == (0 if report.ok else 1), result.output
