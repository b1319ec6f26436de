"""The data-key ring on disk (``data-keys.json`` + legacy ``data-encryption.key`` + the
``encryption_key`` setting) and the sealed format's key id, which re-sealing relies on."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import pytest

from broker.crypto.box import DecryptionError, SecretBox
from broker.crypto.keys import (
    CONFIGURED_DATA_KEY,
    DATA_ENCRYPTION,
    DATA_KEYS_INDEX,
    KeyMaterialError,
    data_key_id,
    ensure_keys,
    missing_key_files,
    read_data_key_ring,
    retire_data_keys,
    rotate_data_keys,
)
from broker.crypto.rotation import key_files_stamp

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def legacy_dir(tmp_path: Path, *keys: bytes) -> Path:
    (tmp_path / DATA_ENCRYPTION).write_text("".join(key.hex() + "\n" for key in keys))
    return tmp_path


def test_sealed_values_name_their_key_and_old_keys_still_open() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    sealed = SecretBox((old,)).seal("s3cret", "AKIAEXAMPLE")
    assert sealed.startswith(f"v1.{data_key_id(old)}.")
    ring = SecretBox((new, old))
    assert ring.sealing_key_id == data_key_id(new) and ring.key_ids == (data_key_id(new), data_key_id(old))
    assert not ring.is_current(sealed) and ring.open(sealed, "AKIAEXAMPLE") == "s3cret"
    assert ring.is_current(ring.seal("s3cret", "AKIAEXAMPLE"))
    with pytest.raises(DecryptionError, match="no key"):
        SecretBox((new,)).open(sealed, "AKIAEXAMPLE")
    with pytest.raises(DecryptionError, match="does not authenticate"):
        ring.open(sealed, "AKIAOTHER")  # copied onto another row


def test_ring_order_rotation_and_retirement(tmp_path: Path) -> None:
    legacy, configured = secrets.token_bytes(32), secrets.token_bytes(32)
    directory = legacy_dir(tmp_path, legacy)
    # Before any rotation: the setting seals, the legacy file opens (as before rings existed).
    assert [k.source for k in read_data_key_ring(directory, configured.hex())] == [CONFIGURED_DATA_KEY, DATA_ENCRYPTION]
    stamp = key_files_stamp(directory)
    first = rotate_data_keys(directory, NOW)
    assert key_files_stamp(directory) != stamp  # running brokers notice
    second = rotate_data_keys(directory, NOW + dt.timedelta(days=1))
    ring = read_data_key_ring(directory, configured.hex())
    assert [k.key_id for k in ring] == [second.key_id, first.key_id, data_key_id(configured), data_key_id(legacy)]
    assert ring[0].created_at == NOW + dt.timedelta(days=1)
    assert (directory / f"data-key-{second.key_id}.key").stat().st_mode & 0o777 == 0o600

    # The current key and the setting are never removed; the legacy file goes once empty.
    removed = retire_data_keys(directory, {second.key_id, first.key_id, data_key_id(legacy), data_key_id(configured)})
    assert sorted(removed) == sorted([first.key_id, data_key_id(legacy)])
    assert not (directory / DATA_ENCRYPTION).exists()
    assert not (directory / f"data-key-{first.key_id}.key").exists()
    assert [k.key_id for k in read_data_key_ring(directory)] == [second.key_id]
    # `broker init` does not bring the retired legacy file back.
    assert DATA_ENCRYPTION not in missing_key_files(directory)
    ensure_keys(directory, "test")
    assert not (directory / DATA_ENCRYPTION).exists()


def test_a_broken_ring_is_refused_with_the_file_named(tmp_path: Path) -> None:
    directory = legacy_dir(tmp_path, secrets.token_bytes(32))
    (directory / DATA_KEYS_INDEX).write_text(json.dumps({"keys": [{"id": "x"}]}))
    with pytest.raises(KeyMaterialError, match=r"data-keys\.json: not a data-key ring"):
        read_data_key_ring(directory)
    other = secrets.token_bytes(32)
    (directory / "data-key-aaaaaaaa.key").write_text(other.hex() + "\n")
    entry = {"id": "aaaaaaaa", "file": "data-key-aaaaaaaa.key", "created_at": NOW.isoformat()}
    (directory / DATA_KEYS_INDEX).write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(KeyMaterialError, match="does not hold data key aaaaaaaa"):
        read_data_key_ring(directory)
    unrotated = tmp_path / "unrotated"
    unrotated.mkdir()
    with pytest.raises(KeyMaterialError, match="no data-key ring"):
        retire_data_keys(legacy_dir(unrotated, other), set())
