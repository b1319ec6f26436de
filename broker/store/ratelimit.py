"""Token buckets in the database: one atomic statement per check, shared by every instance.

A check is a single ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (PostgreSQL, and SQLite
3.35 or later: RETURNING): the row is created full on first use, or updated under the row's lock by the
generic cell rate algorithm, and the statement returns the verdict. There is no read before the
write, so two instances checking the same key at once are serialized by the database, each
seeing the other's update, and no lock outlives the statement.

The statement runs in autocommit on a connection of its own, so its charge stands whatever the
request does next, except on SQLite inside a write transaction: SQLite has one write lock per
database and the request's transaction holds it, so a second connection would wait for it
forever; the check then runs in that transaction (see :meth:`RateLimitStore.take`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, text

from broker.store.db import Database, Tx

# Every column of the new row; the UPDATE reads the old row's values (``b.``), as both
# PostgreSQL and SQLite evaluate SET expressions against the row before the update.
# :inc is the cost in seconds (cost / rate), :cap the burst in seconds (burst / rate).
# The bucket's instant, kept within a burst of now: a clock that stepped back (or an instance
# whose clock runs behind another's) sees an empty bucket, not one that refills for hours.
_START = "(CASE WHEN b.tat > :now + :cap THEN :now + :cap WHEN b.tat > :now THEN b.tat ELSE :now END)"
_NEXT = f"{_START} + :inc"
_ADMITTED = f"({_NEXT} <= :now + :cap)"
_REPORT = "(:now - b.reported_at >= :interval)"
_TAKE: Final = text(
    "INSERT INTO rate_limit_buckets AS b (bucket, key, tat, admitted, refused, suppressed, reported_at) "  # noqa: S608  (constant fragments)
    "VALUES (:bucket, :key, :now + :inc, :inc <= :cap, 0, 0, 0) "
    "ON CONFLICT (bucket, key) DO UPDATE SET "
    f"tat = CASE WHEN {_ADMITTED} THEN {_NEXT} ELSE {_START} END, "
    f"admitted = {_ADMITTED}, "
    f"refused = CASE WHEN {_ADMITTED} THEN b.refused WHEN {_REPORT} THEN 0 ELSE b.refused + 1 END, "
    f"suppressed = CASE WHEN NOT {_ADMITTED} AND {_REPORT} THEN b.refused ELSE b.suppressed END, "
    f"reported_at = CASE WHEN NOT {_ADMITTED} AND {_REPORT} THEN :now ELSE b.reported_at END "
    # A refusal that is not reported counts itself, so a refusal that leaves 0 was reported.
    "RETURNING tat, admitted, refused, suppressed"
)
# Buckets whose instant passed before :before: full, and unused since.
_PURGE: Final = text("DELETE FROM rate_limit_buckets WHERE tat < :before")


@dataclass(frozen=True, slots=True)
class TakeResult:
    """What one check left in its bucket."""

    admitted: bool
    # The bucket's theoretical arrival time after the check (Unix seconds).
    tat: float
    # For a refusal: whether it is the one of its interval to audit, and how many refusals of
    # the key went unaudited before it.
    reported: bool
    unreported: int


class RateLimitStore:
    """The ``rate_limit_buckets`` table as the limiter uses it."""

    def __init__(self, db: Database) -> None:
        self._sqlite = db.engine.dialect.name == "sqlite"
        # PostgreSQL: one round trip, no BEGIN/COMMIT. SQLite keeps its own transaction control
        # (an IMMEDIATE transaction around the statement costs no round trip in process).
        self._engine: Engine = db.engine if self._sqlite else db.engine.execution_options(isolation_level="AUTOCOMMIT")

    def take(
        self,
        bucket: str,
        key: str,
        *,
        now: float,
        cost_seconds: float,
        burst_seconds: float,
        report_interval: float,
        tx: Tx | None = None,
    ) -> TakeResult:
        """Charge ``cost_seconds`` to the key's bucket if it holds that much; one statement.

        ``tx`` is the caller's open write transaction, if any. On PostgreSQL the check still
        runs on its own connection and commits at once; on SQLite it runs in ``tx`` (whose
        write lock it would otherwise wait for), and so lasts only if ``tx`` commits.
        """
        params = {
            "bucket": bucket,
            "key": key,
            "now": now,
            "inc": cost_seconds,
            "cap": burst_seconds,
            "interval": report_interval,
        }
        if tx is not None and self._sqlite:
            row = tx.execute(_TAKE, params).one()
        else:
            with self._engine.begin() as conn:
                row = conn.execute(_TAKE, params).one()
        admitted = bool(row.admitted)
        reported = not admitted and int(row.refused) == 0
        return TakeResult(admitted, float(row.tat), reported, int(row.suppressed) if reported else 0)

    @property
    def charges_roll_back(self) -> bool:
        """Whether a check made in a write transaction rolls back with it (SQLite)."""
        return self._sqlite

    def purge(self, *, before: float) -> int:
        """Delete the buckets that have been full since ``before``; how many went."""
        with self._engine.begin() as conn:
            return int(conn.execute(_PURGE, {"before": before}).rowcount)

    def clear(self) -> None:
        """Forget every bucket (tests, and an operator resetting the limits)."""
        with self._engine.begin() as conn:
            conn.execute(text("DELETE FROM rate_limit_buckets"))
