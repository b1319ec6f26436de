"""The key-file steps under `broker keys`: atomic private writes, the ring index, SP rollover files."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from broker.crypto.keys import (
    KeyMaterialError,
    ensure_keys,
    load_keys,
    read_token_ring,
    rotate_token_keys,
    write_atomically,
)
from broker.crypto.rotation import finish_sp_rollover, key_files_stamp, retire_previous_token_key, stage_sp_keys

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_write_atomically_replaces_privately_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "token-keys.json"
    target.write_text("old")
    target.chmod(0o644)
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token-keys.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "token-keys.json"
    target.write_text("old")

    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="No space"):
        write_atomically(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["token-keys.json"]


def test_rotations_keep_three_keys_and_delete_the_dropped_one(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "ring")
    first = read_token_ring(tmp_path)
    assert first.previous is None and first.rotated_at is None
    second = rotate_token_keys(tmp_path, now=NOW)
    assert read_token_ring(tmp_path) == second and second.rotated_at == NOW
    third = rotate_token_keys(tmp_path, now=NOW + dt.timedelta(days=2))
    assert third.previous == second.current == first.next
    assert not (tmp_path / f"token-{first.current}.pem").exists()
    assert sorted(p.name for p in tmp_path.glob("token-*.pem")) == sorted(
        f"token-{kid}.pem" for kid in (third.current, third.next, third.previous)
    )
    assert mode(tmp_path / "token-keys.json") == 0o600
    assert retire_previous_token_key(tmp_path) == second.current
    assert read_token_ring(tmp_path).previous is None
    assert not (tmp_path / f"token-{second.current}.pem").exists()
    assert retire_previous_token_key(tmp_path) is None
    assert load_keys(tmp_path).token_keys.previous is None


def test_a_ring_index_that_is_not_one_names_the_file(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "bad")
    for broken in ('{"current": ', '{"next": "x"}', '{"current": "a", "rotated_at": "yesterday"}', "[]"):
        (tmp_path / "token-keys.json").write_text(broken)
        with pytest.raises(KeyMaterialError, match=re.escape("token-keys.json: not a token key ring")):
            load_keys(tmp_path)


def test_sp_rollover_stages_then_replaces(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "sp")
    before = load_keys(tmp_path)
    stamp = key_files_stamp(tmp_path)
    stage_sp_keys(tmp_path, "sp", NOW)
    assert key_files_stamp(tmp_path) != stamp
    staged = load_keys(tmp_path)
    assert staged.sp_rollover is not None and staged.sp_rollover.staged_at == NOW
    assert staged.sp_signing_cert_pem == before.sp_signing_cert_pem
    assert staged.sp_decryption_keys() == (before.sp_encryption_key_pem, staged.sp_rollover.encryption_key_pem)
    assert mode(tmp_path / "sp-signing-next.key") == mode(tmp_path / "sp-encryption-next.key") == 0o600
    assert json.loads((tmp_path / "sp-rollover.json").read_text()) == {"staged_at": NOW.isoformat()}
    finish_sp_rollover(tmp_path)
    after = load_keys(tmp_path)
    assert after.sp_rollover is None
    assert after.sp_signing_cert_pem == staged.sp_rollover.signing_cert_pem
    assert after.sp_decryption_keys() == (staged.sp_rollover.encryption_key_pem,)
    assert not list(tmp_path.glob("sp-*-next.*"))


def test_a_rollover_index_without_its_key_files_is_refused_by_name(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "sp")
    stage_sp_keys(tmp_path, "sp", NOW)
    (tmp_path / "sp-signing-next.key").unlink()
    with pytest.raises(KeyMaterialError, match=re.escape("sp-signing-next.key: missing")):
        load_keys(tmp_path)
