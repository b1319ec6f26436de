"""The audit trail: CloudTrail-shaped events, hash-chained in commit order, with signed digests.

- :mod:`._record`: :func:`build_event` makes a record; :func:`record_event` holds one in the
  caller's transaction.
- :mod:`._names`: CloudTrail's camelCase, nested names for a call's parameters and results.
- :mod:`.writer`: :class:`AuditWriter`, the group-commit writer for events without a state change.
- :mod:`.scope`: :class:`AuditScope`, one request's event, filled in as it goes and recorded
  (in the request's transaction) or submitted (to the writer) once.
- :mod:`.data_events`: which decisions are recorded (``audit_decision_events``).
- :mod:`.operator`: the events the `broker` command records, as ``broker-cli``.
- :mod:`.chain`: the hash chain (its storage and the chain-head lock: :mod:`broker.store.audit`).
- :mod:`.digests`: signed digest records at an interval.
- :mod:`.verify`: what `broker audit verify` checks and reports.
- :mod:`.lookup`: CloudTrail ``LookupEvents``.
- :mod:`.export`, :mod:`.retention`, :mod:`.worker`: files for a SIEM, purging, the background digester.
- :mod:`.trail`: the trail as `broker audit` opens, verifies, exports and follows it.
"""

from broker.services.audit._names import camel_keys, query_parameters
from broker.services.audit._record import (
    ANONYMOUS,
    EVENT_VERSION,
    Actor,
    PreparedEvent,
    build_event,
    record_event,
    redact,
)
from broker.services.audit.data_events import DECISION_EVENT_SETTINGS, decision_event_wanted
from broker.services.audit.scope import AuditScope, ClientInfo
from broker.services.audit.writer import AuditWriteFailed, AuditWriter

__all__ = [
    "ANONYMOUS",
    "DECISION_EVENT_SETTINGS",
    "EVENT_VERSION",
    "Actor",
    "AuditScope",
    "AuditWriteFailed",
    "AuditWriter",
    "ClientInfo",
    "PreparedEvent",
    "build_event",
    "camel_keys",
    "decision_event_wanted",
    "query_parameters",
    "record_event",
    "redact",
]
