"""The audit trail: CloudTrail-shaped events, hash-chained in commit order, with signed digests.

- :mod:`._record`: :func:`record_event` writes an event in the caller's transaction.
- :mod:`.scope`: :class:`AuditScope`, one request's event, filled in as it goes and recorded once.
- :mod:`.operator`: the events the `broker` command records, as ``broker-cli``.
- :mod:`.chain`: the hash chain (its storage and the chain-head lock: :mod:`broker.store.audit`).
- :mod:`.digests`: signed digest records at an interval.
- :mod:`.verify`: what `broker audit verify` checks and reports.
- :mod:`.lookup`: CloudTrail ``LookupEvents``.
- :mod:`.export`, :mod:`.retention`, :mod:`.worker`: files for a SIEM, purging, the background writer.
- :mod:`.trail`: the trail as `broker audit` opens, verifies, exports and follows it.
"""

from broker.services.audit._record import ANONYMOUS, EVENT_VERSION, Actor, record_event, redact
from broker.services.audit.scope import AuditScope, ClientInfo

__all__ = ["ANONYMOUS", "EVENT_VERSION", "Actor", "AuditScope", "ClientInfo", "record_event", "redact"]
