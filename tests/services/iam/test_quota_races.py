"""Quotas hold under concurrent requests, on SQLite and PostgreSQL.

Each quota was checked by counting, then inserting, with nothing serializing two transactions: on
PostgreSQL (READ COMMITTED) six concurrent CreateAccessKey calls gave a user six keys (AWS allows
two) and twelve concurrent AttachUserPolicy calls attached twelve policies (AWS allows ten); a
review found it. The count here is slowed down so that, without the owner's lock, every racer
counts before any adds; with it they take turns."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.services.iam import access_keys, inline, instance_profiles, policies, users
from broker.services.runtime import Runtime
from broker.store.iam import credentials, owned
from broker.store.iam import instance_profiles as profile_store
from tests.support.brokers import make_runtime, make_settings

T = TypeVar("T")
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
# Long enough that every racer, released together, has counted before the first one adds.
COUNTING_TIME = 0.3


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    rt = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url, database_pool_size=16))
    yield rt
    rt.db.dispose()


@pytest.fixture
def account(runtime: Runtime) -> str:
    return runtime.settings.default_account_id


def slowed(count: Callable[..., T]) -> Callable[..., T]:
    def slow(*args: Any, **kwargs: Any) -> T:
        found = count(*args, **kwargs)
        time.sleep(COUNTING_TIME)
        return found

    return slow


def race(runtime: Runtime, racers: int, action: Callable[[Any, int], object]) -> list[str]:
    """Run ``action(tx, i)`` for i in 0..racers-1 at once, each in its own transaction; each one's
    outcome ("ok" or the AWS error code), sorted."""
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            with runtime.db.transaction() as tx:
                action(tx, i)
            outcomes.append("ok")
        except AwsError as exc:
            outcomes.append(exc.code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return sorted(outcomes)


def make_user(runtime: Runtime, account: str, name: str) -> None:
    with runtime.db.transaction() as tx:
        users.create_user(tx, account, name, "/", T0)


def test_concurrent_create_access_key_stays_within_the_quota(
    runtime: Runtime, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(runtime, account, "dave")
    monkeypatch.setattr(credentials, "count_access_keys", slowed(credentials.count_access_keys))
    outcomes = race(runtime, 6, lambda tx, _i: access_keys.new_access_key(tx, account, "dave", runtime.box, T0))
    assert outcomes == ["LimitExceeded"] * 4 + ["ok"] * 2
    with runtime.db.read() as tx:
        assert credentials.count_access_keys(tx, users.get_user(tx, account, "dave").user_id) == 2


def test_concurrent_attach_user_policy_stays_within_the_quota(
    runtime: Runtime, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(runtime, account, "dave")
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    )
    arns = []
    with runtime.db.transaction() as tx:
        for i in range(12):
            created = policies.create_policy(
                tx, account, name=f"p{i}", path=None, document=document, description=None, tags=None, now=T0
            )
            arns.append(created.arn)
    monkeypatch.setattr(owned, "attached_policies", slowed(owned.attached_policies))

    def attach(tx: Any, i: int) -> None:
        policies.attach_policy(tx, account, users.get_user(tx, account, "dave"), arns[i])

    outcomes = race(runtime, 12, attach)
    assert outcomes == ["LimitExceeded"] * 2 + ["ok"] * limits.MANAGED_POLICIES_PER_ENTITY
    with runtime.db.read() as tx:
        attached = policies.attached_policies(tx, users.get_user(tx, account, "dave"), None)
    assert len(attached) == limits.MANAGED_POLICIES_PER_ENTITY


def test_concurrent_creates_stay_within_an_account_quota(
    runtime: Runtime, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-account quotas lock the account's row (instance profiles here, with a quota of 3)."""
    monkeypatch.setattr(limits, "INSTANCE_PROFILES_PER_ACCOUNT", 3)
    monkeypatch.setattr(profile_store, "count", slowed(profile_store.count))

    def create(tx: Any, i: int) -> None:
        instance_profiles.create_instance_profile(tx, account, name=f"profile{i}", path=None, tags=(), now=T0)

    assert race(runtime, 5, create) == ["LimitExceeded"] * 2 + ["ok"] * 3
    with runtime.db.read() as tx:
        assert profile_store.count(tx, account) == 3


def wait_until_blocked(runtime: Runtime) -> None:
    """Until another session waits for a row lock (PostgreSQL); SQLite's writers wait in BEGIN
    IMMEDIATE, which the database does not show, so there only a moment passes."""
    if runtime.db.engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 10
    with runtime.db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the request never waited for the deletion")


def test_a_user_deleted_while_a_key_is_created_is_no_such_entity(runtime: Runtime, account: str) -> None:
    make_user(runtime, account, "erin")
    outcome: list[str] = []

    def create() -> None:
        try:
            with runtime.db.transaction() as tx:
                access_keys.create_access_key(tx, users.get_user(tx, account, "erin"), runtime.box, T0)
            outcome.append("ok")
        except AwsError as exc:
            outcome.append(f"{exc.code}: {exc.message}")
        except BaseException as exc:  # reported below
            outcome.append(repr(exc))

    with runtime.db.transaction() as tx:
        users.delete_user(tx, account, "erin")
        tx.flush()
        racer = threading.Thread(target=create)
        racer.start()
        wait_until_blocked(runtime)
    racer.join(timeout=30)
    assert outcome == ["NoSuchEntity: The user with name erin cannot be found."]


def test_concurrent_inline_policies_stay_within_the_total_size(
    runtime: Runtime, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's inline policies share one size quota: summed under the user's lock too."""
    make_user(runtime, account, "fay")
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "x" * 500}
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    fits = limits.INLINE_POLICIES_USER_SIZE // limits.policy_size(document)
    assert 1 <= fits < 6
    monkeypatch.setattr(owned, "inline_policies", slowed(owned.inline_policies))

    def put(tx: Any, i: int) -> None:
        inline.put_inline_policy(tx, users.get_user(tx, account, "fay"), f"p{i}", document)

    assert race(runtime, 6, put) == ["LimitExceeded"] * (6 - fits) + ["ok"] * fits
    with runtime.db.read() as tx:
        assert len(owned.inline_policies(tx, "User", users.get_user(tx, account, "fay").user_id)) == fits


def test_a_user_given_a_key_while_being_deleted_is_not_deleted_with_it(runtime: Runtime, account: str) -> None:
    """DeleteUser locks the user before it checks for keys: one added meanwhile is DeleteConflict,
    not deleted along with the user unseen."""
    make_user(runtime, account, "gus")
    outcome: list[str] = []

    def delete() -> None:
        try:
            with runtime.db.transaction() as tx:
                users.delete_user(tx, account, "gus")
            outcome.append("ok")
        except AwsError as exc:
            outcome.append(exc.code)
        except BaseException as exc:  # reported below
            outcome.append(repr(exc))

    with runtime.db.transaction() as tx:
        access_keys.create_access_key(tx, users.get_user(tx, account, "gus"), runtime.box, T0)
        tx.flush()
        racer = threading.Thread(target=delete)
        racer.start()
        wait_until_blocked(runtime)
    racer.join(timeout=30)
    assert outcome == ["DeleteConflict"]
    with runtime.db.read() as tx:
        assert credentials.count_access_keys(tx, users.get_user(tx, account, "gus").user_id) == 1
