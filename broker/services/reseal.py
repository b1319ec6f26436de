"""Re-encryption of secrets at rest after a data-key rotation (``broker keys rotate --encryption``).

Every broker process's background worker re-seals, a batch per tick, the rows a non-current data
key sealed; ``broker keys reseal`` runs it to completion. Batches are claimed by row locks (see
:func:`broker.store.reseal.stale_batch`), so instances share the work without doing it twice, and a
row is rewritten only if it still holds the value read, so a concurrent change always wins.
"""

from __future__ import annotations

import datetime as dt
import logging

from broker.crypto.box import DecryptionError
from broker.services.runtime import Runtime
from broker.store import reseal as sealed_rows

log = logging.getLogger("broker.keys")
BATCH_ROWS = 200  # rows per transaction: short locks, steady progress
# How long a worker that found nothing to re-seal waits before looking again (a lagging instance
# may still seal with an old key for one key_reload_interval_seconds).
RESEAL_IDLE = dt.timedelta(minutes=5)


def reseal_batch(runtime: Runtime, limit: int = BATCH_ROWS) -> int:
    """Re-seal up to ``limit`` rows under the current data key, in one transaction; the number done."""
    # Never re-seal under a key another instance has already replaced: look at the files first.
    runtime.reload_keys_if_changed()
    box = runtime.box
    old_key_ids = tuple(key_id for key_id in box.key_ids if key_id != box.sealing_key_id)
    if not old_key_ids:
        return 0
    done = 0
    with runtime.db.transaction() as tx:
        for value in sealed_rows.stale_batch(tx, old_key_ids, limit):
            try:
                plaintext = box.open(value.sealed, value.row_id)
            except DecryptionError:  # tampered or moved: left for an operator, never overwritten
                log.warning("%s row %s: sealed value does not open; not re-sealed", value.table, value.row_id)
                continue
            done += sealed_rows.replace_sealed(tx, value, box.seal(plaintext, value.row_id))
    return done


def reseal_all(runtime: Runtime, limit: int = BATCH_ROWS) -> int:
    """Re-seal batches until none is left; the number of rows re-sealed."""
    total = 0
    while done := reseal_batch(runtime, limit):
        total += done
    return total
