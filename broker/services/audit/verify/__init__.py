"""`broker audit verify`: check the hash chain and the signed digests, and say what was done.

Checks, in the order a report lists them:

- **digests**: each signature verifies with a published audit key; each digest names the
  previous one's signature and document hash, and starts where the previous one ended.
- **modified**: an event whose record no longer hashes to its stored hash, or whose indexed
  columns (what LookupEvents filters on) or resource index disagree with its record.
- **inserted**: a row the broker never wrote: beyond the chain head, or a row nothing links to
  whose neighbours link past it (or that links to nothing).
- **reordered**: events whose stored order disagrees with the order their links give; the
  fewest moves that explain it (the longest run already in chain order stays put).
- **deleted**: missing chain positions, events that link to an event no longer there, and
  events missing after the last one the chain head records.
- **rewritten**: a signed digest records another hash for an event than the trail holds: the
  events it covers were altered and their hashes recomputed.
- **purge**: the trail starts later than the first event or digest with no purge recorded.
- **wiped**: no signed digest at all, not even the genesis digest `broker init` writes.
- **truncated**: the newest digest is older than the interval allows, or a digest records that
  the trail had been cut back before it was written (:mod:`.origin_checks`).

Events after the newest digest are protected by the chain alone; the report says how many.

Modules: :mod:`.report` (findings), :mod:`.digest_checks` (the digests' own chain),
:mod:`.chain_checks` (the events against their links and the digests), :mod:`.origin_checks`
(where the trail begins and ends), :mod:`.check` (the whole check).
"""

from broker.services.audit.verify.check import verify_trail
from broker.services.audit.verify.report import Finding, Report

__all__ = ["Finding", "Report", "verify_trail"]
