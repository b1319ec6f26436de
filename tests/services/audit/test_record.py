"""record_event and the chain: positions in commit order, nothing left by a rollback, any JSON stored."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from broker.services.audit import ANONYMOUS, record_event
from broker.services.audit.chain import chain_hash
from broker.services.runtime import Runtime
from broker.store.audit.chain import GENESIS_HASH
from broker.store.models import AuditChainHead, AuditEvent
from tests.services.audit.support import verify, write_events


def _event(session: object, runtime: Runtime, **parameters: object) -> str:
    return record_event(
        session,  # type: ignore[arg-type]
        event_name="Probe",
        event_source="tests.broker",
        actor=ANONYMOUS,
        now=runtime.now(),
        region="us-east-1",
        source_ip=None,
        user_agent=None,
        request_id="r",
        request_parameters=parameters,
    )


def test_events_chain_in_order_within_and_across_transactions(audit_runtime: Runtime) -> None:
    with audit_runtime.db.transaction() as session:
        first, second = _event(session, audit_runtime, n=1), _event(session, audit_runtime, n=2)
    with audit_runtime.db.transaction() as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.chain_index)))
        head = session.get(AuditChainHead, 1)
    assert [r.chain_index for r in rows] == [1, 2, 3]  # CreateAccount at init, then these two
    assert rows[0].prev_hash == GENESIS_HASH
    assert [r.event_id for r in rows[1:]] == [first, second]
    for previous, current in itertools.pairwise(rows):
        assert current.prev_hash == previous.event_hash
        assert current.event_hash == chain_hash(previous.event_hash, current.record)
    assert head is not None and (head.last_index, head.last_hash) == (3, rows[-1].event_hash)


def test_a_rolled_back_transaction_takes_its_position_with_it(audit_runtime: Runtime) -> None:
    def failing_change() -> None:
        with audit_runtime.db.transaction() as session:
            _event(session, audit_runtime, n=1)
            session.flush()
            raise RuntimeError("the change fails")  # the event never takes a position

    with pytest.raises(RuntimeError):
        failing_change()
    write_events(audit_runtime, 1)
    with audit_runtime.db.transaction() as session:
        indexes = list(session.scalars(select(AuditEvent.chain_index).order_by(AuditEvent.chain_index)))
    assert indexes == [1, 2]
    assert verify(audit_runtime).ok


def test_events_recorded_in_a_savepoint_that_rolls_back_are_not_written(audit_runtime: Runtime) -> None:
    def rolled_back(session: object) -> None:
        with session.begin_nested():  # type: ignore[attr-defined]
            _event(session, audit_runtime, where="rolled back")
            raise RuntimeError

    with audit_runtime.db.transaction() as session:
        kept = _event(session, audit_runtime, where="outer")
        with pytest.raises(RuntimeError):
            rolled_back(session)
        with session.begin_nested():
            released = _event(session, audit_runtime, where="released")
    with audit_runtime.db.transaction() as session:
        probes = list(session.scalars(select(AuditEvent).where(AuditEvent.event_name == "Probe")))
    assert [p.event_id for p in sorted(probes, key=lambda p: p.chain_index)] == [kept, released]
    assert verify(audit_runtime).ok


def test_values_json_cannot_carry_are_stored_as_text(audit_runtime: Runtime) -> None:
    with audit_runtime.db.transaction() as session:
        _event(session, audit_runtime, StartTime=float("nan"), Huge=float("inf"), When=dt.datetime(2026, 1, 1))
    with audit_runtime.db.transaction() as session:
        record = session.scalars(select(AuditEvent.record).where(AuditEvent.event_name == "Probe")).one()
    assert record["requestParameters"] == {"StartTime": "NaN", "Huge": "Infinity", "When": "2026-01-01 00:00:00"}
    assert verify(audit_runtime).ok


def test_secrets_inside_lists_and_numbered_query_members_are_not_recorded(audit_runtime: Runtime) -> None:
    # A JSON-protocol body (Organizations-style) with a list of objects, one carrying a secret
    # field, a list of lists, and Query parameters flattened with numbered members.
    json_body = {
        "Accounts": [
            {"AccountName": "dev", "Password": "hunter2-in-a-list"},
            {"AccountName": "ops", "Tags": [{"Key": "team", "Value": "ops"}]},
        ],
        "Batches": [[{"SessionToken": "token-in-a-list-of-lists", "Id": "b1"}], ["plain"]],
        "Nested": {"Credentials": [{"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret-deep"}]},
    }
    query = {
        "UserName": "alice",
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "blue",
        "Credentials.member.1.SecretAccessKey": "secret-in-a-query-member",
        "Credentials.member.2.SessionToken": "token-in-a-query-member",
        "NewPassword": "new-secret",
        "OldPassword": "old-secret",
        "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    }
    with audit_runtime.db.transaction() as session:
        _event(session, audit_runtime, body=json_body, query=query)
    with audit_runtime.db.transaction() as session:
        record = session.scalars(select(AuditEvent.record).where(AuditEvent.event_name == "Probe")).one()
    stored = record["requestParameters"]
    text = str(stored)
    for secret in (
        "hunter2-in-a-list",
        "token-in-a-list-of-lists",
        "secret-deep",
        "secret-in-a-query-member",
        "token-in-a-query-member",
        "new-secret",
        "old-secret",
    ):
        assert secret not in text
    # Everything else is kept, in its place.
    assert stored["body"]["Accounts"] == [
        {"AccountName": "dev"},
        {"AccountName": "ops", "Tags": [{"Key": "team", "Value": "ops"}]},
    ]
    assert stored["body"]["Batches"] == [[{"Id": "b1"}], ["plain"]]
    assert stored["body"]["Nested"] == {"Credentials": [{"AccessKeyId": "ASIAEXAMPLE"}]}
    assert stored["query"] == {
        "UserName": "alice",
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "blue",
        "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    }
    assert verify(audit_runtime).ok


def test_redaction_of_a_deeply_nested_value_stops_at_a_marker() -> None:
    from broker.services.audit._record import TOO_DEEP, redact

    deep: object = {"Password": "x"}
    for _ in range(200):
        deep = [deep]
    redacted = redact({"Deep": deep, "Kept": 1})
    assert redacted["Kept"] == 1
    level = redacted["Deep"]
    depth = 0
    while isinstance(level, list):
        level, depth = level[0], depth + 1
    assert level == TOO_DEEP and depth < 200
