"""Data events (decisions): stored as such, left out of LookupEvents, kept in verify and export."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from broker.policy import Effect
from broker.services.audit import AuditScope, ClientInfo, decision_event_wanted
from broker.services.audit.export import export_trail, verify_export
from broker.services.audit.lookup import LookupQuery, lookup_events
from broker.services.audit.worker import seal
from broker.services.runtime import Runtime
from broker.settings import SettingsError, load_settings
from broker.store.audit.snapshots import Reader
from broker.store.models import AuditEvent
from tests.services.audit.support import ACTOR, EVENTS, tamper, verify

ACCOUNT = "123456789012"


def decision_scope(*, data_event: bool = True) -> AuditScope:
    scope = AuditScope(
        event_name="Decide",
        event_source="decisions.broker",
        client=ClientInfo(source_ip="192.0.2.5", user_agent="tests", request_id="decision-1"),
        region="us-east-1",
        actor=ACTOR,
        read_only=True,
        request_parameters={"action": "s3:GetObject", "resource": "arn:aws:s3:::bucket/key", "contextKeys": []},
        additional={"authenticationMethod": "SigV4"},
        data_event=data_event,
    )
    scope.touch("arn:aws:s3:::bucket/key")
    return scope


def looked_up(runtime: Runtime, attribute: tuple[str, str] | None = None) -> list[str]:
    with Reader(runtime.db) as reader, reader.snapshot() as session:
        response = lookup_events(session, LookupQuery(attribute, None, None, 50, None), ACCOUNT, management=True)
    return [e["EventId"] for e in response["Events"]]


def test_a_decision_is_a_data_event_hidden_from_lookup_and_kept_in_verify_and_export(
    audit_runtime: Runtime, tmp_path: Path
) -> None:
    scope = decision_scope()
    submitted = scope.submit(audit_runtime.audit_writer, audit_runtime.now(), response={"decision": "ImplicitDeny"})
    audit_runtime.audit_writer.close()
    with audit_runtime.db.transaction() as session:
        held = scope.record(session, audit_runtime.now(), response={"decision": "Allow"})  # the hold path too
    management = decision_scope(data_event=False).submit(audit_runtime.audit_writer, audit_runtime.now())
    audit_runtime.audit_writer.close()

    with audit_runtime.db.transaction() as session:
        rows = {
            row.event_id: row
            for row in session.execute(
                select(AuditEvent.event_id, AuditEvent.management_event, AuditEvent.record).where(
                    AuditEvent.event_id.in_([submitted, held, management])
                )
            )
        }
    for data_event in (submitted, held):
        assert rows[data_event].management_event is False
        assert rows[data_event].record["managementEvent"] is False
        assert rows[data_event].record["eventCategory"] == "Data"
    assert rows[management].management_event is True
    assert rows[management].record["eventCategory"] == "Management"

    # CloudTrail's LookupEvents lists management events only, whatever the attribute.
    listed = looked_up(audit_runtime)
    assert management in listed and submitted not in listed and held not in listed
    assert looked_up(audit_runtime, ("EventId", submitted)) == []
    assert looked_up(audit_runtime, ("EventName", "Decide")) == [management]
    assert looked_up(audit_runtime, ("ResourceName", "arn:aws:s3:::bucket/key")) == [management]

    # The trail holds them all: verify checks them and export writes them.
    report = verify(audit_runtime)
    assert report.ok, [f.line() for f in report.findings]
    seal(audit_runtime)
    out = tmp_path / "export"
    with Reader(audit_runtime.db) as reader, reader.snapshot() as session:
        result = export_trail(session, out, since=None)
    exported = [
        record["eventID"]
        for path in result.log_files
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]
    ]
    assert {submitted, held, management} <= set(exported)
    assert verify_export(out, audit_runtime.keys.audit_keys.jwks()).ok


def test_hiding_an_event_from_lookup_by_marking_it_data_is_caught(audit_runtime: Runtime) -> None:
    event_id = decision_scope(data_event=False).submit(audit_runtime.audit_writer, audit_runtime.now())
    audit_runtime.audit_writer.close()
    assert event_id in looked_up(audit_runtime)
    with tamper(audit_runtime) as db:
        db.execute(update(EVENTS).where(EVENTS.c.event_id == event_id).values(management_event=False))
    assert event_id not in looked_up(audit_runtime)
    (finding,) = verify(audit_runtime).findings
    assert finding.kind == "modified" and finding.event_id == event_id and "management_event" in finding.message


@pytest.mark.parametrize(
    ("setting", "effects", "wanted"),
    [
        ("none", [Effect.ALLOW], False),
        ("none", [Effect.EXPLICIT_DENY], False),
        ("denies", [Effect.ALLOW], False),
        ("denies", [Effect.ALLOW, Effect.ALLOW], False),
        ("denies", [Effect.IMPLICIT_DENY], True),
        ("denies", [Effect.ALLOW, Effect.EXPLICIT_DENY], True),
        ("denies", [], False),
        ("all", [Effect.ALLOW], True),
        ("all", [Effect.IMPLICIT_DENY], True),
    ],
)
def test_which_decisions_are_recorded(setting: str, effects: list[Effect], wanted: bool) -> None:
    assert decision_event_wanted(setting, iter(effects)) is wanted


def test_the_setting_defaults_to_denies_and_refuses_other_values() -> None:
    assert load_settings(environ={}).audit_decision_events == "denies"
    assert load_settings(environ={"BROKER_AUDIT_DECISION_EVENTS": "all"}).audit_decision_events == "all"
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"BROKER_AUDIT_DECISION_EVENTS": "allow"})
    assert refused.value.problems == ["audit_decision_events: must be none, denies or all, got 'allow'"]
    with pytest.raises(ValueError, match="audit_decision_events"):
        decision_event_wanted("sometimes", [Effect.ALLOW])
