"""The MFA device's wrong-code counter in the database: the window, the lock, a code accepted,
and wrong codes tried at the same time, on SQLite and PostgreSQL.

The counter was read, incremented in Python and written back: on PostgreSQL twelve concurrent
wrong codes counted as one and the device never locked (a review found it)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.iam import limits
from broker.services.iam import mfa
from broker.services.runtime import Runtime
from broker.store.iam import credentials
from tests.support.brokers import make_runtime, make_settings

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(seconds=limits.MFA_FAILURE_WINDOW_SECONDS)
LOCKOUT = dt.timedelta(seconds=limits.MFA_LOCKOUT_SECONDS)


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    rt = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url))
    yield rt
    rt.db.dispose()


@pytest.fixture
def serial(runtime: Runtime) -> str:
    with runtime.db.transaction() as tx:
        device = mfa.create_virtual_mfa_device(tx, runtime.box, runtime.settings.default_account_id, "phone", None, T0)
    return device.serial_number


def fail(runtime: Runtime, serial: str, now: dt.datetime) -> None:
    with runtime.db.transaction() as tx:
        mfa.record_failure(tx, serial, now)


def state(runtime: Runtime, serial: str) -> tuple[int, dt.datetime | None, dt.datetime | None]:
    with runtime.db.read() as tx:
        device = credentials.mfa_device_state(tx, serial)
    assert device is not None
    return device.failed_attempts, device.failures_since, device.locked_until


def test_the_limit_within_the_window_locks_and_a_new_window_starts_over(runtime: Runtime, serial: str) -> None:
    for i in range(limits.MFA_MAX_FAILURES - 1):
        fail(runtime, serial, T0 + dt.timedelta(seconds=i))
    assert state(runtime, serial) == (limits.MFA_MAX_FAILURES - 1, T0, None)
    last = T0 + dt.timedelta(seconds=10)
    fail(runtime, serial, last)
    assert state(runtime, serial) == (0, None, last + LOCKOUT)

    later = last + LOCKOUT + dt.timedelta(seconds=1)
    fail(runtime, serial, later)
    fail(runtime, serial, later + WINDOW + dt.timedelta(seconds=1))  # past the window: counted afresh
    assert state(runtime, serial) == (1, later + WINDOW + dt.timedelta(seconds=1), last + LOCKOUT)


def test_a_code_accepted_forgets_the_failures_and_keeps_a_lock(runtime: Runtime, serial: str) -> None:
    for i in range(limits.MFA_MAX_FAILURES):
        fail(runtime, serial, T0 + dt.timedelta(seconds=i))
    fail(runtime, serial, T0 + dt.timedelta(seconds=30))
    locked_until = T0 + dt.timedelta(seconds=limits.MFA_MAX_FAILURES - 1) + LOCKOUT
    assert state(runtime, serial) == (1, T0 + dt.timedelta(seconds=30), locked_until)
    with runtime.db.transaction() as tx:
        credentials.clear_mfa_failures(tx, serial)
    assert state(runtime, serial) == (0, None, locked_until)


def test_wrong_codes_tried_at_the_same_time_all_count(runtime: Runtime, serial: str) -> None:
    racers = limits.MFA_MAX_FAILURES - 1  # one short of the lock: every one must be in the count
    barrier = threading.Barrier(racers)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            fail(runtime, serial, T0)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert state(runtime, serial)[0] == racers
    fail(runtime, serial, T0)
    assert state(runtime, serial)[2] == T0 + LOCKOUT
