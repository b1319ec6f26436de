"""The SQLite database (with its -wal and -shm files) and the key directory are private to the
broker's user: 0600 files, 0700 directories, under the common umask 022 that would otherwise
leave them readable by everyone."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from broker.cli.main import cli
from broker.crypto.keys import ensure_keys, rotate_audit_key, rotate_token_keys
from broker.store.db import Database

PRIVATE_KEY_FILES = (
    "sp-signing.key",
    "sp-encryption.key",
    "secret-derivation.key",
    "data-encryption.key",
    "audit-signing.key",
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def common_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_database_wal_and_shm_files_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "broker.db"
    database = Database(f"sqlite:///{path}")
    try:
        with database.transaction() as tx:
            tx.execute(text("CREATE TABLE secrets (value TEXT)"))
            tx.execute(text("INSERT INTO secrets VALUES ('sealed')"))
        # The pooled connection keeps the WAL and the shared-memory index in place: look at them now.
        wal, shm = path.with_name("broker.db-wal"), path.with_name("broker.db-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: mode(p) for p in (path, wal, shm)} == {
            "broker.db": 0o600,
            "broker.db-wal": 0o600,
            "broker.db-shm": 0o600,
        }
        assert mode(path.parent) == 0o700
    finally:
        database.dispose()


def test_an_existing_database_of_ours_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "broker.db"
    path.touch(mode=0o644)
    wal = path.with_name("broker.db-wal")
    wal.touch(mode=0o644)
    assert (mode(path), mode(wal)) == (0o644, 0o644)
    database = Database(f"sqlite:///{path}")
    try:
        assert (mode(path), mode(wal)) == (0o600, 0o600)
        with database.transaction() as tx:
            tx.execute(text("CREATE TABLE t (x INTEGER)"))
        assert mode(path.with_name("broker.db-shm")) == 0o600
    finally:
        database.dispose()


def test_an_existing_directory_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    database = Database(f"sqlite:///{shared / 'broker.db'}")
    database.dispose()
    assert mode(shared) == 0o755
    assert mode(shared / "broker.db") == 0o600


def test_keys_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    ensure_keys(certs, common_name="file modes")
    assert mode(certs) == 0o700
    token_keys = sorted(certs.glob("token-*.pem"))
    assert len(token_keys) == 2
    for path in [*(certs / name for name in PRIVATE_KEY_FILES), *token_keys]:
        assert mode(path) == 0o600, path.name
    # Rewriting a key file that was made readable by others makes it private again.
    (certs / "audit-signing.key").chmod(0o644)
    rotate_audit_key(certs)
    assert mode(certs / "audit-signing.key") == 0o600
    rotate_token_keys(certs)
    assert all(mode(path) == 0o600 for path in certs.glob("token-*.pem"))


def test_broker_init_creates_private_files(tmp_path: Path) -> None:
    env = {
        "BROKER_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'broker.db'}",
        "BROKER_CERTS_DIR": str(tmp_path / "certs"),
        "BROKER_METADATA_DIR": str(tmp_path / "metadata"),
    }
    result = CliRunner().invoke(cli, ["init"], env=env)
    assert result.exit_code == 0, result.output
    certs = tmp_path / "certs"
    assert mode(certs) == 0o700
    for path in [*(certs / name for name in PRIVATE_KEY_FILES), *certs.glob("token-*.pem")]:
        assert mode(path) == 0o600, path.name
    assert mode(tmp_path / "var") == 0o700
    for path in (tmp_path / "var").iterdir():  # broker.db, and -wal/-shm if SQLite kept them
        assert mode(path) == 0o600, path.name
