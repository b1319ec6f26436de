"""The wrong-user-code counters in the database: windows, locks, and failures counted by racing
requests, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.services.runtime import Runtime
from broker.store import cli_auth as store
from tests.support.brokers import make_runtime, make_settings

WINDOW = dt.timedelta(minutes=15)
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    rt = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url))
    yield rt
    rt.db.dispose()


def count(runtime: Runtime, key: str, now: dt.datetime, max_failures: int = 3) -> store.UserCodeAttemptsRecord:
    with runtime.db.transaction() as tx:
        return store.count_user_code_failure(
            tx, key, "session", now, window=WINDOW, max_failures=max_failures, lockout=WINDOW
        )


def locked(runtime: Runtime, key: str, now: dt.datetime) -> bool:
    with runtime.db.transaction() as tx:
        return bool(store.user_code_locks(tx, [key], now))


def test_failures_lock_at_the_limit_and_the_lock_ends(runtime: Runtime) -> None:
    key = "a" * 64
    assert [count(runtime, key, T0 + dt.timedelta(minutes=i)).failures for i in range(3)] == [1, 2, 3]
    assert locked(runtime, key, T0 + dt.timedelta(minutes=2))
    record = count(runtime, key, T0 + dt.timedelta(minutes=3))
    assert record.locked_until == T0 + dt.timedelta(minutes=2) + WINDOW  # a wrong code while locked does not extend it
    assert not locked(runtime, key, T0 + dt.timedelta(minutes=2) + WINDOW)
    assert not locked(runtime, "b" * 64, T0)


def test_a_new_window_starts_the_count_again(runtime: Runtime) -> None:
    key = "c" * 64
    count(runtime, key, T0)
    count(runtime, key, T0 + dt.timedelta(minutes=1))
    later = count(runtime, key, T0 + WINDOW)
    assert later.failures == 1 and later.window_started_at == T0 + WINDOW and later.locked_until is None


def test_purge_forgets_what_has_expired(runtime: Runtime) -> None:
    count(runtime, "d" * 64, T0)
    with runtime.db.transaction() as tx:
        store.purge_cli_expired(tx, T0 + WINDOW + dt.timedelta(seconds=1))
    assert count(runtime, "d" * 64, T0 + WINDOW + dt.timedelta(seconds=2)).failures == 1


def test_racing_failures_all_count(runtime: Runtime) -> None:
    key = "e" * 64
    racers = 8
    barrier = threading.Barrier(racers)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            count(runtime, key, T0, max_failures=100)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert count(runtime, key, T0, max_failures=100).failures == racers + 1


def test_a_locked_device_authorization_cannot_be_decided_afterwards(runtime: Runtime) -> None:
    from broker.services.audit import ClientInfo
    from broker.services.cli_auth import CLIENT_ID, DeviceAuthorizationGrant
    from broker.services.federation import token_hash

    start = DeviceAuthorizationGrant(runtime).start_device(CLIENT_ID, None, None, ClientInfo("192.0.2.1", None, "r"))
    device_hash = token_hash(start.device_code)
    with runtime.db.transaction() as tx:
        assert store.lock_device_authorization(tx, device_hash, T0)
        assert not store.lock_device_authorization(tx, device_hash, T0)  # once
        # A decision read before the lock and written after it changes nothing.
        assert not store.approve_device_authorization(
            tx,
            device_hash,
            role_arn="arn:aws:iam::123456789012:role/R",
            duration_seconds=None,
            web_session_hash="f" * 64,
            now=T0,
        )
        assert not store.deny_device_authorization(tx, device_hash, T0)
        record = store.device_authorization(tx, device_hash)
        assert record is not None and record.status == "locked" and record.role_arn is None
