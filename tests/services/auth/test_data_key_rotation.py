"""Two instances on one database and one key directory: after `broker keys rotate --encryption` on
one, the other opens secrets sealed under the new data key, on SQLite and PostgreSQL.

An instance that had not reloaded the key ring refused such access keys as InvalidClientTokenId,
and one serving only long-term keys never reloaded it at all: its data-key ring was built once and
refreshed only when something else read the keys (a review found it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from broker.iam.errors import AwsError
from broker.services import keys as key_service
from broker.services.audit.worker import AuditWorker
from broker.services.auth import authenticate
from broker.services.iam import access_keys, users
from broker.services.reseal import reseal_all
from broker.services.runtime import Runtime
from broker.store import models
from tests.services.auth.test_authentication import signed
from tests.support.brokers import make_runtime, make_settings

INTERVAL = 10


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The monotonic clock the runtimes time their key reloads by, moved by the test."""
    now = [0.0]
    monkeypatch.setattr("broker.services.runtime.time.monotonic", lambda: now[0])
    return now


@pytest.fixture
def instances(
    tmp_path: Path, keys_dir: Path, database_url: str, base_url: str, ticks: list[float]
) -> Iterator[tuple[Runtime, Runtime]]:
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, key_reload_interval_seconds=INTERVAL)
    first = make_runtime(settings)
    second = make_runtime(settings)
    yield first, second
    for runtime in (first, second):
        runtime.db.dispose()


def new_key(runtime: Runtime, user_name: str) -> tuple[str, str]:
    account = runtime.settings.default_account_id
    with runtime.db.transaction() as tx:
        user = users.find_user(tx, account, user_name) or users.create_user(tx, account, user_name, "/", runtime.now())
        key, secret = access_keys.create_access_key(tx, user, runtime.box, runtime.now())
    return key.access_key_id, secret


def caller_arn(runtime: Runtime, key: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    request = signed(*key, "sts", runtime.now(), runtime.settings.base_url, monkeypatch)
    with runtime.db.transaction() as tx:
        caller, _ = authenticate(
            runtime, tx, request.method, request.path, request.query_string, request.headers, request.body
        )
    return caller.arn


def sealing_key_of(runtime: Runtime, access_key_id: str) -> str:
    with runtime.db.read() as tx:
        sealed = tx.scalar(
            select(models.AccessKey.secret_sealed).where(models.AccessKey.access_key_id == access_key_id)
        )
    assert sealed is not None
    return sealed.split(".")[1]


def test_a_secret_sealed_under_a_data_key_rotated_in_elsewhere_opens_at_once(
    instances: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    rotating, other = instances
    old = new_key(rotating, "carol")
    assert caller_arn(other, old, monkeypatch).endswith(":user/carol")
    key_service.rotate_encryption(rotating)  # reloads the ring of the instance it ran on

    # A key made through the rotating instance, sealed under the new data key: the other instance,
    # its reload interval not yet run, looks at the key files at once instead of refusing it.
    new = new_key(rotating, "carol")
    assert sealing_key_of(rotating, new[0]) == rotating.box.sealing_key_id != other.box.sealing_key_id
    assert caller_arn(other, new, monkeypatch).endswith(":user/carol")
    assert other.box.sealing_key_id == rotating.box.sealing_key_id

    # A secret re-sealed by the rotating instance, read afresh, opens as well.
    assert reseal_all(rotating) == 1
    new_key(rotating, "dave")  # a change in the account: the other instance reads the key row again
    assert caller_arn(other, old, monkeypatch).endswith(":user/carol")

    # A seal under a key that no instance holds is still refused, as before, once the files are looked at.
    with rotating.db.transaction() as tx:
        stray = "v1.0badf00d." + rotating.box.seal(new[1], new[0]).split(".", 2)[2]
        tx.execute(update(models.AccessKey).where(models.AccessKey.access_key_id == new[0]).values(secret_sealed=stray))
    new_key(rotating, "erin")
    with pytest.raises(AwsError) as refused:
        caller_arn(other, new, monkeypatch)
    assert refused.value.code == "InvalidClientTokenId"


def test_the_data_key_ring_follows_a_rotation_within_the_reload_interval(
    instances: tuple[Runtime, Runtime], ticks: list[float]
) -> None:
    """An instance that only ever uses the data-key ring (long-term keys, its re-sealing chore)
    takes up a rotation made elsewhere at its next look at the key files."""
    rotating, other = instances
    old = new_key(rotating, "carol")
    first = other.box.sealing_key_id
    key_service.rotate_encryption(rotating)
    current = rotating.box.sealing_key_id
    assert current != first

    ticks[0] = INTERVAL - 0.5
    assert other.box.key_ids == (first,)  # not looked at again yet
    ticks[0] = INTERVAL
    assert other.box.key_ids == (current, first)
    assert sealing_key_of(other, new_key(other, "dave")[0]) == current
    # Its worker sees two keys, so it re-seals what the old one sealed.
    AuditWorker(other).reseal_data(other.now() + dt.timedelta(hours=1))
    assert sealing_key_of(other, old[0]) == current
