"""The rate limiter: named token buckets, keyed by client address, principal or MFA device.

Each bucket has a sustained rate and a burst (``settings.rate_limit_budgets``). A check charges
one request to the key's bucket with the generic cell rate algorithm (GCRA): the bucket is one
instant, the time at which it would be full again, and a request is admitted while that instant
lies less than a burst's worth of time ahead. The instant lives where every instance sees it:
the database, in one atomic statement per check (:mod:`broker.store.ratelimit`); another store
(Redis, say) plugs in as a :class:`BucketStore`. Nothing is held across the request.

Refusals are audited, but not one event per refusal, which would let a flood write the trail
as fast as it is refused: the first refusal of a key in each ``rate_limit_audit_interval_seconds``
is audited and carries the number of refusals of that key since the previous audited one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from broker.iam.errors import AwsError
from broker.services import metrics
from broker.settings import Settings, rate_limit_budgets
from broker.store import Database, Tx
from broker.store.ratelimit import RateLimitStore, TakeResult

log = logging.getLogger("broker.ratelimit")

# Keys longer than this (principal ARNs can reach 2048 characters) are stored as their digest.
MAX_KEY_LENGTH: Final = 128
# Buckets full for this long are deleted, at most once per PURGE_EVERY per process.
PURGE_AFTER: Final = dt.timedelta(hours=1)
PURGE_EVERY: Final = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Budget:
    """A bucket's sustained rate (requests per second) and burst (requests at once)."""

    rate: float
    burst: int

    @property
    def interval(self) -> float:
        """Seconds one request costs."""
        return 1.0 / self.rate


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check's outcome."""

    bucket: str
    admitted: bool
    # Seconds until a request would be admitted (0 when admitted).
    retry_after: float = 0.0
    # A refusal to audit (the first of its key in the interval), and the refusals of the key
    # since the previous audited one, which were not audited on their own.
    report: bool = False
    unreported: int = 0

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` as HTTP carries it: whole seconds, at least one."""
        return max(1, math.ceil(self.retry_after))


ADMITTED_WHEN_OFF: Final = Verdict("", admitted=True)


class Throttled(AwsError):
    """A request over its bucket's budget: AWS's ``Throttling`` ("Rate exceeded", 400); the web
    layer answers 429 where the wire has no AWS shape, always with ``Retry-After``."""

    def __init__(self, verdict: Verdict, *, always_audited: bool = False) -> None:
        super().__init__("Throttling", "Rate exceeded")
        self.verdict = verdict
        metrics.count_throttled(verdict.bucket)  # every refusal becomes one of these
        # Whether this refusal gets an audit event of its own (else it is only counted).
        self.audited = always_audited or verdict.report

    @property
    def retry_after_seconds(self) -> int:
        return self.verdict.retry_after_seconds

    @property
    def audit_details(self) -> dict[str, object]:
        """What the refusal's audit event adds (``additionalEventData``)."""
        return {
            "rateLimitBucket": self.verdict.bucket,
            "retryAfterSeconds": self.retry_after_seconds,
            "refusalsNotAudited": self.verdict.unreported,
        }


class BucketStore(Protocol):
    """Where buckets live (the database's :class:`RateLimitStore`)."""

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
    ) -> TakeResult: ...

    @property
    def charges_roll_back(self) -> bool: ...

    def purge(self, *, before: float) -> int: ...

    def clear(self) -> None: ...


# How long tokens taken ahead (a lease) or a refusal stay valid in one process, seconds.
LEASE_SECONDS: Final = 1.0
# Keys whose lease a process remembers at most (a flood of distinct addresses cannot grow it).
MAX_LEASES: Final = 100_000


def _most_leased(budget: Budget) -> int:
    """The most tokens one process takes ahead for a key: a sixteenth of the burst, at most 64.
    They are charged to the shared bucket when taken, so no instance ever admits more than the
    budget; while a process holds them, the other instances see that much less."""
    return max(1, min(64, budget.burst // 16))


class _Lease:
    """One key's tokens this process took ahead from the shared bucket, or its last refusal.

    A key costs one statement per lease of up to :func:`_most_leased` tokens instead of one per
    request. A lease is good for :data:`LEASE_SECONDS`; the statement that renews it hands back
    what the old one did not use (it charges only the difference), so tokens a process holds
    are never lost, only held. A refused key is answered from memory until its ``Retry-After``
    (no statement per refused request of a flood); those refusals are counted and reported with
    the next refusal the store reports.
    """

    __slots__ = ("expires", "refused_here", "refused_until", "tokens")

    def __init__(self) -> None:
        self.tokens = 0
        self.expires = 0.0
        self.refused_until = 0.0
        self.refused_here = 0

    def serve(self, now: float) -> float | None:
        """0 when admitted from the lease, seconds to wait when still refused, None to ask the store."""
        if now < self.refused_until:
            self.refused_here += 1
            return self.refused_until - now
        if self.tokens > 0 and now < self.expires:
            self.tokens -= 1
            return 0
        return None

    def record(self, now: float, granted: int, retry_after: float) -> None:
        if granted:
            self.tokens, self.expires, self.refused_until = granted - 1, now + LEASE_SECONDS, 0.0
        else:  # refused: what the lease held stays charged (a refusal changes nothing in the store)
            self.tokens, self.refused_until = 0, now + retry_after

    def expired(self, now: float) -> bool:
        return now >= self.expires and now >= self.refused_until


def stored_key(key: str) -> str:
    """The key as stored: itself, or its SHA-256 when longer than a column holds."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class RateLimiter:
    """The process's view of the shared buckets (``Runtime.rate_limiter``)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Callable[[], dt.datetime],
        store: BucketStore | None = None,
    ) -> None:
        self.enabled = settings.rate_limit_enabled
        self.budgets = {name: Budget(rate, burst) for name, (rate, burst) in rate_limit_budgets(settings).items()}
        self._interval = float(settings.rate_limit_audit_interval_seconds)
        self._clock = clock
        self.store: BucketStore = RateLimitStore(db) if store is None else store
        self._purged_at: dt.datetime | None = None
        self._purge_lock = threading.Lock()
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._leases_lock = threading.Lock()

    def check(self, bucket: str, key: str | None, *, tx: Tx | None = None) -> Verdict:
        """Charge one request to ``key``'s bucket; the verdict (admitted when the limiter is
        off or the key unknown, e.g. a request without a client address).

        ``tx``: the caller's open write transaction, if any (see :meth:`RateLimitStore.take`).
        Such a check always goes to the store; others are served from this process's lease of
        the key's tokens, or its memory of a refusal, while either lasts (see :class:`_Lease`).
        """
        if not self.enabled or not key:
            return ADMITTED_WHEN_OFF
        budget = self.budgets[bucket]
        moment = self._clock()
        now = moment.timestamp()
        slot = (bucket, stored_key(key))
        want, held = 1, 0
        if tx is None:
            with self._leases_lock:
                lease = self._leases.get(slot)
                if lease is not None:
                    served = lease.serve(now)
                    if served is not None:
                        return Verdict(bucket, False, served) if served > 0 else Verdict(bucket, admitted=True)
                    held, lease.tokens = lease.tokens, 0  # handed back by the renewal below
                want = _most_leased(budget)
        taken = self._take(slot, budget, now, want - held, tx)
        if taken is None:
            return ADMITTED_WHEN_OFF
        if not taken.admitted and want > 1:  # not that many left: one will do
            want = 1
            taken = self._take(slot, budget, now, want - held, tx)
            if taken is None:
                return ADMITTED_WHEN_OFF
        if tx is None:
            self._purge_if_due(moment)
        retry_after = max(taken.tat + budget.interval - budget.burst * budget.interval - now, 0.0)
        if tx is None:
            with self._leases_lock:
                lease = self._leases.get(slot)
                if lease is None:
                    if len(self._leases) >= MAX_LEASES:
                        self._forget_expired(now)
                    lease = self._leases[slot] = _Lease()
                refused_before = lease.refused_here
                lease.record(now, want if taken.admitted else 0, retry_after)
        else:
            refused_before = 0
        if taken.admitted:
            return Verdict(bucket, admitted=True)
        # Refusals this process answered from memory are counted with the next reported one.
        unreported = taken.unreported + refused_before if taken.reported else taken.unreported
        if taken.reported and tx is None:
            with self._leases_lock:
                self._leases[slot].refused_here = 0
        return Verdict(bucket, False, retry_after, taken.reported, unreported)

    def _take(self, slot: tuple[str, str], budget: Budget, now: float, count: int, tx: Tx | None) -> TakeResult | None:
        """Charge ``count`` tokens (0 or fewer: a renewal handing back unused ones) in one statement."""
        try:
            return self.store.take(
                slot[0],
                slot[1],
                now=now,
                cost_seconds=count * budget.interval,
                burst_seconds=budget.burst * budget.interval,
                report_interval=self._interval,
                tx=tx,
            )
        except Exception:
            if tx is not None:  # the request's own transaction failed with it
                raise
            # A guard, not a dependency: a failed check (the request will meet the same database
            # trouble itself) must not turn into refusing everyone.
            log.exception("rate limit check failed; admitting the request")
            return None

    def _forget_expired(self, now: float) -> None:
        expired = [slot for slot, lease in self._leases.items() if lease.expired(now)]
        for slot in expired:
            del self._leases[slot]
        if len(self._leases) >= MAX_LEASES:  # a flood of distinct keys: start afresh
            self._leases.clear()

    def enforce(self, bucket: str, key: str | None, *, tx: Tx | None = None, always_audited: bool = False) -> None:
        """:meth:`check`, raising :class:`Throttled` on a refusal."""
        verdict = self.check(bucket, key, tx=tx)
        if not verdict.admitted:
            raise Throttled(verdict, always_audited=always_audited)

    def charge_again(self, bucket: str, key: str | None, tx: Tx) -> None:
        """Redo, in ``tx``, a check made in a transaction that then rolled back, where the store
        ran it in that transaction (SQLite); elsewhere the charge committed on its own already.
        A wrong MFA code calls this from the transaction that counts and audits it."""
        if self.store.charges_roll_back:
            self.check(bucket, key, tx=tx)

    def _purge_if_due(self, now: dt.datetime) -> None:
        with self._purge_lock:
            if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
                return
            self._purged_at = now
        try:
            self.store.purge(before=(now - PURGE_AFTER).timestamp())
        except Exception:  # bookkeeping: the next interval tries again
            log.exception("could not purge full rate-limit buckets")
