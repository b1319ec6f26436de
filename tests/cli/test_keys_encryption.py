"""`broker keys rotate --encryption`: a new data key seals, old ones open until every row is
re-sealed (by the audit worker's chore or `broker keys reseal`), then `--retire` removes them;
access keys and MFA devices keep working throughout, on SQLite and PostgreSQL, on every instance."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from broker.cli.main import cli
from broker.crypto.keys import DATA_ENCRYPTION, DATA_KEYS_INDEX, read_data_key_ring
from broker.iam import totp
from broker.services.audit.worker import AuditWorker
from broker.services.reseal import reseal_batch
from broker.services.runtime import Runtime
from broker.services.setup import bootstrap_admin
from broker.store import models
from tests.cli.conftest import cli_runtimes_on
from tests.cli.test_keys import MovableClock, audit_events
from tests.support.aws import client
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def broker(
    tmp_path: Path, keys_dir: Path, database_url: str, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveBroker]:
    port = free_port()
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, f"http://127.0.0.1:{port}"))
    runtime.clock = clock
    cli_runtimes_on(clock, monkeypatch)
    with LiveBroker(runtime, port) as live:
        yield live
    runtime.db.dispose()


def keys_cli(broker: LiveBroker, *args: str) -> Result:
    settings = broker.runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    env |= {
        "BROKER_DATABASE_URL": settings.database_url,
        "BROKER_CERTS_DIR": settings.certs_dir,
        "BROKER_METADATA_DIR": settings.metadata_dir,
        "BROKER_BASE_URL": settings.base_url,
    }
    return CliRunner().invoke(cli, ["keys", *args], env=env)


def sealed_by(runtime: Runtime) -> dict[str, str]:
    """Each sealed row (access key id, MFA serial) and the id of the data key that sealed it."""
    with runtime.db.transaction() as tx:
        rows = [*tx.execute(select(models.AccessKey.access_key_id, models.AccessKey.secret_sealed))]
        rows += [*tx.execute(select(models.MfaDevice.serial_number, models.MfaDevice.seed_sealed))]
    return {row_id: sealed.split(".")[1] for row_id, sealed in rows}


def generations(runtime: Runtime) -> dict[str, int]:
    with runtime.db.transaction() as tx:
        return {
            scope: int(value) for scope, value in tx.execute(select(models.Generation.scope, models.Generation.value))
        }


def identity(broker: LiveBroker, key: str, secret: str) -> str:
    return str(client(broker, "sts", key, secret).get_caller_identity()["Arn"])


def test_rotate_reseal_retire(broker: LiveBroker, clock: MovableClock) -> None:
    runtime = broker.runtime
    admin = bootstrap_admin(runtime)
    iam = client(broker, "iam", admin.access_key_id, admin.secret_access_key)
    iam.create_user(UserName="alice")
    old_key = iam.create_access_key(UserName="alice")["AccessKey"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")["VirtualMFADevice"]
    serial = device["SerialNumber"]
    seed = totp.seed_from_base32(device["Base32StringSeed"].decode("ascii"))
    now = time.time()
    iam.enable_mfa_device(
        UserName="alice",
        SerialNumber=serial,
        AuthenticationCode1=totp.totp(seed, now - 30),
        AuthenticationCode2=totp.totp(seed, now),
    )
    first = runtime.box.sealing_key_id
    assert set(sealed_by(runtime).values()) == {first}
    # Another instance, started before the rotation, sharing the key files and the database.
    other = Runtime.from_settings(runtime.settings)

    rotated = keys_cli(broker, "rotate", "--encryption")
    assert rotated.exit_code == 0, rotated.output
    ring = read_data_key_ring(runtime.settings.certs_dir)
    new = ring[0].key_id
    assert new != first and [key.key_id for key in ring] == [new, first]
    assert f"data key now {new}" in rotated.output and "3 rows sealed by older keys" in rotated.output
    [event] = audit_events(runtime, "RotateDataEncryptionKey")
    assert event["responseElements"] == {"current": new, "previous": first}

    runtime.reload_keys_if_changed()
    other.reload_keys_if_changed()
    assert runtime.box.sealing_key_id == other.box.sealing_key_id == new
    # New secrets are sealed with the new key; the old ones still open.
    new_key = iam.create_access_key(UserName="alice")["AccessKey"]
    assert sealed_by(runtime)[new_key["AccessKeyId"]] == new
    assert sealed_by(runtime)[old_key["AccessKeyId"]] == first
    assert identity(broker, old_key["AccessKeyId"], old_key["SecretAccessKey"]).endswith(":user/alice")
    assert identity(broker, new_key["AccessKeyId"], new_key["SecretAccessKey"]).endswith(":user/alice")

    # Asked again, the old key comes from the broker's cache, sealed as it was.
    assert identity(broker, old_key["AccessKeyId"], old_key["SecretAccessKey"]).endswith(":user/alice")
    status = keys_cli(broker, "status")
    assert status.exit_code == 0, status.output
    assert f"{new}  seals; 1 rows" in status.output and f"{first}  opens; 3 rows" in status.output

    refused = keys_cli(broker, "rotate", "--encryption", "--retire")
    assert refused.exit_code == 1
    assert f"old data keys still in use ({first} seals 3 rows)" in refused.output
    assert "Traceback" not in refused.output
    [refusal] = audit_events(runtime, "RetireDataEncryptionKeys")
    assert refusal["errorCode"] == "KeyRotationRefused"
    assert (Path(runtime.settings.certs_dir) / DATA_ENCRYPTION).exists()

    # The chore, on the other instance: a batch per run, caches left alone (same secrets).
    before = generations(runtime)
    assert reseal_batch(other, limit=1) == 1
    assert list(sealed_by(runtime).values()).count(first) == 2
    worker = AuditWorker(other)
    worker.reseal_data(clock.now)
    assert set(sealed_by(runtime).values()) == {new}
    assert generations(runtime) == before

    # Instances that have not reloaded the ring yet could still seal with the old key.
    early = keys_cli(broker, "rotate", "--encryption", "--retire")
    assert early.exit_code == 1 and "until they reload the ring" in early.output
    clock.now += dt.timedelta(seconds=runtime.settings.key_reload_interval_seconds + 1)
    retired = keys_cli(broker, "rotate", "--encryption", "--retire")
    assert retired.exit_code == 0, retired.output
    assert f"retired data keys {first}" in retired.output
    assert not (Path(runtime.settings.certs_dir) / DATA_ENCRYPTION).exists()
    assert [key.key_id for key in read_data_key_ring(runtime.settings.certs_dir)] == [new]
    done = audit_events(runtime, "RetireDataEncryptionKeys")[-1]
    assert done["responseElements"] == {"retired": [first], "current": new}
    # Retiring dropped every cache, so no cached copy of an old seal is left to open.
    assert generations(runtime)["*"] > before.get("*", 0)

    runtime.reload_keys_if_changed()
    other.reload_keys_if_changed()
    assert runtime.box.key_ids == other.box.key_ids == (new,)
    for key in (old_key, new_key):
        assert identity(broker, key["AccessKeyId"], key["SecretAccessKey"]).endswith(":user/alice")
    admin_sts = client(broker, "sts", admin.access_key_id, admin.secret_access_key)
    assert admin_sts.get_caller_identity()["Arn"].endswith(f":user/{admin.user_name}")
    # The MFA seed, re-sealed, still verifies (the next step's code: the enabling codes are used).
    sts = client(broker, "sts", old_key["AccessKeyId"], old_key["SecretAccessKey"])
    session = sts.get_session_token(SerialNumber=serial, TokenCode=totp.totp(seed, now + 30))
    assert session["Credentials"]["AccessKeyId"].startswith("ASIA")
    other.db.dispose()


def test_reseal_command_and_restarted_broker(broker: LiveBroker, clock: MovableClock) -> None:
    runtime = broker.runtime
    admin = bootstrap_admin(runtime)
    assert keys_cli(broker, "rotate", "--encryption").exit_code == 0
    assert keys_cli(broker, "rotate", "--encryption").exit_code == 0
    ring = [key.key_id for key in read_data_key_ring(runtime.settings.certs_dir)]
    assert len(ring) == 3 and (Path(runtime.settings.certs_dir) / DATA_KEYS_INDEX).exists()

    resealed = keys_cli(broker, "reseal")
    assert resealed.exit_code == 0, resealed.output
    assert f"re-sealed 1 rows with data key {ring[0]}" in resealed.output
    assert set(sealed_by(runtime).values()) == {ring[0]}
    [event] = audit_events(runtime, "ResealData")
    assert event["responseElements"] == {"resealed": 1, "remaining": 0}

    clock.now += dt.timedelta(seconds=runtime.settings.key_reload_interval_seconds + 1)
    retired = keys_cli(broker, "rotate", "--encryption", "--retire")
    assert retired.exit_code == 0, retired.output
    # A broker started now loads only the ring (no legacy file), and the admin key still works.
    restarted = Runtime.from_settings(runtime.settings)
    assert restarted.box.key_ids == (ring[0],)
    runtime.reload_keys_if_changed()
    assert identity(broker, admin.access_key_id, admin.secret_access_key).endswith(f":user/{admin.user_name}")
    assert keys_cli(broker, "rotate", "--encryption", "--retire").exit_code == 1
    restarted.db.dispose()
