"""The rate limiter on SQLite and PostgreSQL: GCRA budgets, shared state, audit thinning, settings."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from broker.services.ratelimit import RateLimiter, Throttled, stored_key
from broker.services.ratelimit import limiter as limiter_module
from broker.services.ratelimit.limiter import LEASE_SECONDS
from broker.services.runtime import Runtime
from broker.settings import RATE_LIMIT_DEFAULTS, SettingsError, load_settings, rate_limit_budgets
from broker.store import models
from broker.store.ratelimit import RateLimitStore, TakeResult
from tests.support.brokers import make_runtime, make_settings

START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    # aws: 1 a second, bursts of 3; mfa: 10 an hour, bursts of 2.
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, rate_limits=("aws=1/s:3", "mfa=10/h:2"))
    rt = make_runtime(settings)
    yield rt
    rt.db.dispose()


def limiter(runtime: Runtime, clock: Clock, **overrides: object) -> RateLimiter:
    return RateLimiter(replace(runtime.settings, **overrides), runtime.db, clock)  # type: ignore[arg-type]


def test_a_burst_is_admitted_then_refused_until_the_bucket_refills(runtime: Runtime) -> None:
    clock = Clock()
    limits = limiter(runtime, clock)
    assert [limits.check("aws", "198.51.100.7").admitted for _ in range(4)] == [True, True, True, False]
    refused = limits.check("aws", "198.51.100.7")
    assert not refused.admitted and refused.retry_after == pytest.approx(1.0)
    assert refused.retry_after_seconds == 1
    # Another address has its own bucket.
    assert limits.check("aws", "198.51.100.8").admitted
    clock.advance(0.5)
    assert not limits.check("aws", "198.51.100.7").admitted  # half a token is not one
    clock.advance(0.5)
    assert limits.check("aws", "198.51.100.7").admitted
    assert not limits.check("aws", "198.51.100.7").admitted
    clock.advance(3)
    assert [limits.check("aws", "198.51.100.7").admitted for _ in range(4)] == [True, True, True, False]


def test_retry_after_says_when_the_next_request_is_admitted(runtime: Runtime) -> None:
    clock = Clock()
    limits = limiter(runtime, clock)
    for _ in range(2):
        assert limits.check("mfa", "arn:aws:iam::123456789012:mfa/alice").admitted
    refused = limits.check("mfa", "arn:aws:iam::123456789012:mfa/alice")
    assert not refused.admitted and refused.retry_after == pytest.approx(360.0) and refused.retry_after_seconds == 360
    clock.advance(359)
    assert not limits.check("mfa", "arn:aws:iam::123456789012:mfa/alice").admitted
    clock.advance(1)
    assert limits.check("mfa", "arn:aws:iam::123456789012:mfa/alice").admitted


def test_one_refusal_per_key_and_interval_is_reported_with_the_count_since(runtime: Runtime) -> None:
    clock = Clock()
    limits = limiter(runtime, clock, rate_limit_audit_interval_seconds=60)
    for _ in range(3):
        limits.check("aws", "203.0.113.9")
    first = limits.check("aws", "203.0.113.9")
    assert (first.report, first.unreported) == (True, 0)
    flood = [limits.check("aws", "203.0.113.9") for _ in range(25)]
    assert not any(verdict.report or verdict.admitted for verdict in flood)
    clock.advance(59)  # refills 59 tokens' worth of time, capped at the burst of 3
    for _ in range(3):
        assert limits.check("aws", "203.0.113.9").admitted
    assert not limits.check("aws", "203.0.113.9").report  # 59 s after the reported one
    clock.advance(1)
    for _ in range(1):
        assert limits.check("aws", "203.0.113.9").admitted
    later = limits.check("aws", "203.0.113.9")
    # The 25 of the flood and the one at 59 s were counted, not reported; this one reports them.
    assert (later.admitted, later.report, later.unreported) == (False, True, 26)


def test_a_clock_stepping_back_empties_the_bucket_instead_of_blocking_it(runtime: Runtime) -> None:
    clock = Clock()
    limits = limiter(runtime, clock)
    clock.advance(86400)
    assert limits.check("aws", "192.0.2.1").admitted
    clock.advance(-86400)  # another instance's clock, a day behind
    refused = limits.check("aws", "192.0.2.1")
    assert not refused.admitted and refused.retry_after <= 3.0
    clock.advance(3)
    assert limits.check("aws", "192.0.2.1").admitted


def test_two_instances_on_one_database_share_each_budget(runtime: Runtime) -> None:
    clock = Clock()
    other = Runtime.from_settings(runtime.settings)  # another process: its own engine and pool
    try:
        mine, theirs = limiter(runtime, clock), limiter(other, clock)
        verdicts = [(mine if i % 2 else theirs).check("aws", "198.51.100.1").admitted for i in range(10)]
        assert verdicts.count(True) == 3 and verdicts[:3] == [True, True, True]
    finally:
        other.db.dispose()


def test_concurrent_checks_from_two_instances_admit_exactly_the_burst(runtime: Runtime) -> None:
    clock = Clock()  # frozen: nothing refills while the threads race
    other = Runtime.from_settings(runtime.settings)
    try:
        instances = [limiter(runtime, clock), limiter(other, clock)]
        admitted: list[bool] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def hammer(limits: RateLimiter) -> None:
            start.wait()
            for _ in range(5):
                verdict = limits.check("aws", "198.51.100.2")
                with lock:
                    admitted.append(verdict.admitted)

        threads = [threading.Thread(target=hammer, args=(instances[i % 2],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(admitted) == 40 and admitted.count(True) == 3
    finally:
        other.db.dispose()


def test_a_disabled_limiter_never_refuses_nor_writes(runtime: Runtime) -> None:
    limits = limiter(runtime, Clock(), rate_limit_enabled=False)
    assert all(limits.check("aws", "198.51.100.3").admitted for _ in range(50))
    limits.enforce("mfa", "arn:aws:iam::123456789012:mfa/alice")
    with runtime.db.read() as tx:
        assert tx.scalar(select(func.count()).select_from(models.RateLimitBucket)) == 0


def test_a_request_without_an_address_is_not_limited(runtime: Runtime) -> None:
    limits = limiter(runtime, Clock())
    assert all(limits.check("aws", None).admitted for _ in range(10))


def test_enforce_raises_throttling_with_what_the_audit_event_carries(runtime: Runtime) -> None:
    limits = limiter(runtime, Clock())
    for _ in range(3):
        limits.enforce("aws", "198.51.100.4")
    with pytest.raises(Throttled) as raised:
        limits.enforce("aws", "198.51.100.4")
    error = raised.value
    assert (error.code, error.status, error.message, error.audited) == ("Throttling", 400, "Rate exceeded", True)
    assert error.audit_details == {"rateLimitBucket": "aws", "retryAfterSeconds": 1, "refusalsNotAudited": 0}
    with pytest.raises(Throttled) as again:
        limits.enforce("aws", "198.51.100.4")
    assert not again.value.audited
    with pytest.raises(Throttled) as forced:
        limits.enforce("aws", "198.51.100.4", always_audited=True)
    assert forced.value.audited


def test_long_keys_are_stored_as_digests_and_stay_apart(runtime: Runtime) -> None:
    limits = limiter(runtime, Clock())
    arn = "arn:aws:sts::123456789012:assumed-role/" + "r" * 64 + "/" + "s" * 1900
    assert stored_key(arn).startswith("sha256:") and len(stored_key(arn)) == 71
    assert stored_key("198.51.100.5") == "198.51.100.5"
    for _ in range(3):
        assert limits.check("aws", arn).admitted
    assert not limits.check("aws", arn).admitted
    assert limits.check("aws", arn[:-1] + "t").admitted


def test_a_check_inside_a_write_transaction_neither_waits_nor_deadlocks(runtime: Runtime) -> None:
    limits = limiter(runtime, Clock())
    with runtime.db.transaction() as tx:  # SQLite: this transaction holds the only write lock
        assert limits.check("mfa", "serial-in-tx", tx=tx).admitted
    with runtime.db.read() as tx:
        row = tx.get(models.RateLimitBucket, ("mfa", "serial-in-tx"))
        assert row is not None and row.admitted


def test_full_buckets_are_purged_and_busy_ones_kept(runtime: Runtime) -> None:
    clock = Clock()
    limits = limiter(runtime, clock)
    limits.check("aws", "198.51.100.6")  # purges at its first check, and remembers when
    clock.advance(2 * 3600)
    limits.check("aws", "198.51.100.7")  # due again: 198.51.100.6 has been full for over an hour
    with runtime.db.read() as tx:
        keys = set(tx.scalars(select(models.RateLimitBucket.key)))
    assert keys == {"198.51.100.7"}


def test_a_failed_check_admits_the_request(runtime: Runtime) -> None:
    class Broken:
        def take(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("database went away")

        def purge(self, *, before: float) -> int:
            return 0

        def clear(self) -> None: ...

    limits = RateLimiter(runtime.settings, runtime.db, Clock(), store=Broken())  # type: ignore[arg-type]
    assert limits.check("aws", "198.51.100.9").admitted


# --- settings ----------------------------------------------------------------------------------


def test_budgets_default_and_override_per_bucket() -> None:
    settings = load_settings(environ={"BROKER_RATE_LIMITS": "saml=600/m:50, mfa=5/h:3"})
    budgets = rate_limit_budgets(settings)
    assert budgets["saml"] == (10.0, 50)
    assert budgets["mfa"] == pytest.approx((5 / 3600, 3))
    assert budgets["aws"] == RATE_LIMIT_DEFAULTS["aws"]
    assert set(budgets) == {"saml", "cli", "aws", "decisions", "aws-principal", "decisions-principal", "mfa"}
    assert load_settings(environ={}).rate_limit_enabled is True


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("saml=10/s", "must be BUCKET=RATE/UNIT:BURST"),
        ("saml=10/d:5", "must be BUCKET=RATE/UNIT:BURST"),
        ("acs=10/s:5", "unknown bucket 'acs'"),
        ("saml=0/s:5", "needs a rate above 0 and a burst of 1..1000000"),
        ("saml=1/s:0", "needs a rate above 0 and a burst of 1..1000000"),
    ],
)
def test_bad_budgets_are_refused_at_start_up(entry: str, problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"BROKER_RATE_LIMITS": entry})
    assert any(problem in line for line in raised.value.problems)


def test_the_audit_interval_is_bounded() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"BROKER_RATE_LIMIT_AUDIT_INTERVAL_SECONDS": "0"})
    assert raised.value.problems == ["rate_limit_audit_interval_seconds: must be 1..86400"]


class CountingStore:
    """The database store, counting the statements the limiter sends it."""

    def __init__(self, inner: RateLimitStore) -> None:
        self.inner = inner
        self.takes: list[float] = []

    def take(self, bucket: str, key: str, **kwargs: Any) -> TakeResult:
        self.takes.append(kwargs["cost_seconds"])
        return self.inner.take(bucket, key, **kwargs)

    @property
    def charges_roll_back(self) -> bool:
        return self.inner.charges_roll_back

    def purge(self, *, before: float) -> int:
        return self.inner.purge(before=before)

    def clear(self) -> None:
        self.inner.clear()


def counting_limiter(runtime: Runtime, clock: Clock, rate_limits: tuple[str, ...]) -> tuple[RateLimiter, CountingStore]:
    store = CountingStore(RateLimitStore(runtime.db))
    settings = replace(runtime.settings, rate_limits=rate_limits)
    return RateLimiter(settings, runtime.db, clock, store=store), store


def test_a_busy_key_costs_one_statement_per_lease_not_per_request(runtime: Runtime) -> None:
    clock = Clock()
    limits, store = counting_limiter(runtime, clock, ("aws=10/s:160",))  # leases of 160 / 16 = 10
    assert all(limits.check("aws", "198.51.100.20").admitted for _ in range(25))
    assert len(store.takes) == 3  # 10 + 10 + 10 tokens taken ahead, 25 used
    clock.advance(LEASE_SECONDS)
    assert limits.check("aws", "198.51.100.20").admitted
    # The renewal hands back the 5 the expired lease did not use: it charges 10 - 5 tokens.
    assert store.takes[-1] == pytest.approx(5 * 0.1)


def test_leases_never_admit_more_than_the_budget_across_instances(runtime: Runtime) -> None:
    clock = Clock()  # frozen: nothing refills
    other = Runtime.from_settings(runtime.settings)
    try:
        budget = ("aws=1/s:64",)  # leases of 4
        mine, _ = counting_limiter(runtime, clock, budget)
        theirs, _ = counting_limiter(other, clock, budget)
        admitted = [(mine if i % 3 else theirs).check("aws", "198.51.100.21").admitted for i in range(200)]
        assert admitted.count(True) == 64
        # Tokens one instance holds are not the other's: once both are empty, both refuse.
        assert not mine.check("aws", "198.51.100.21").admitted
        assert not theirs.check("aws", "198.51.100.21").admitted
    finally:
        other.db.dispose()


def test_near_the_limit_a_lease_shrinks_to_what_is_left(runtime: Runtime) -> None:
    clock = Clock()
    other = Runtime.from_settings(runtime.settings)
    try:
        budget = ("aws=1/s:32",)  # leases of 2
        mine, store = counting_limiter(runtime, clock, budget)
        theirs, _ = counting_limiter(other, clock, budget)
        for _ in range(31):
            assert theirs.check("aws", "198.51.100.22").admitted
        # 32 - 32 taken by the other instance (16 leases of 2): nothing left for this one.
        assert not mine.check("aws", "198.51.100.22").admitted
        clock.advance(1)  # one token back: a lease of 2 is refused, one of 1 is not
        assert mine.check("aws", "198.51.100.22").admitted
        assert store.takes[-2:] == [pytest.approx(2.0), pytest.approx(1.0)]
    finally:
        other.db.dispose()


def test_a_flood_of_refusals_is_answered_from_memory_and_counted(runtime: Runtime) -> None:
    clock = Clock()
    limits, store = counting_limiter(runtime, clock, ("aws=1/s:3",))
    for _ in range(3):
        assert limits.check("aws", "203.0.113.30").admitted
    first = limits.check("aws", "203.0.113.30")
    assert (first.admitted, first.report) == (False, True)
    statements = len(store.takes)
    flood = [limits.check("aws", "203.0.113.30") for _ in range(500)]
    assert not any(verdict.admitted or verdict.report for verdict in flood)
    assert len(store.takes) == statements  # not one statement for the flood
    assert all(0 < verdict.retry_after <= 1.0 for verdict in flood)
    clock.advance(61)
    for _ in range(3):
        assert limits.check("aws", "203.0.113.30").admitted
    reported = limits.check("aws", "203.0.113.30")
    assert (reported.admitted, reported.report, reported.unreported) == (False, True, 500)


def test_remembered_keys_are_bounded(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limiter_module, "MAX_LEASES", 50)
    clock = Clock()
    limits, _ = counting_limiter(runtime, clock, ("aws=1/s:3",))
    for index in range(120):
        limits.check("aws", f"198.51.100.{index}")
        clock.advance(LEASE_SECONDS)  # every earlier lease has expired by the next check
    assert len(limits._leases) <= 50
