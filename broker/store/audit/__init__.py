"""The audit trail's storage: what the audit services read and write, and nothing else does.

- :mod:`.chain`: the chain-head row and its lock; events held until their transaction commits, and
  batches the group-commit writer appends.
- :mod:`.digests`: signed digest rows.
- :mod:`.origin`: whether the trail has begun (the genesis digest `broker init` writes).
- :mod:`.events`: records in chain order, LookupEvents pages, verification rows, purging.
- :mod:`.snapshots`: read-only snapshots for verify, export and tail.
"""
