"""The data-key ring: the AES-256-GCM keys that seal secrets at rest (see :mod:`broker.crypto.box`).

``data-keys.json`` names ``data-key-<id>.key`` files, the sealing key first; the ``encryption_key``
setting and the lines of the legacy ``data-encryption.key`` stay members that open what they sealed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from broker.crypto.keyfiles import KeyMaterialError, hex_keys, read_key_file, write_atomically

DATA_ENCRYPTION = "data-encryption.key"
DATA_KEYS_INDEX = "data-keys.json"
CONFIGURED_DATA_KEY = "encryption_key setting"


@dataclass(frozen=True)
class DataKey:
    """One member of the data-key ring: its id (the one sealed values name) and where it comes from."""

    key_id: str
    key: bytes = field(repr=False)
    source: str  # a file under certs_dir, or CONFIGURED_DATA_KEY
    created_at: dt.datetime | None = None


def data_key_id(key: bytes) -> str:
    """The id a sealed value names its key by (see :mod:`broker.crypto.box`)."""
    return hashlib.sha256(key).hexdigest()[:8]


def _data_key_index(directory: Path) -> list[dict[str, str]]:
    path = directory / DATA_KEYS_INDEX
    if not path.exists():
        return []
    try:
        entries = json.loads(read_key_file(path))["keys"]
        if not entries or not all(isinstance(e, dict) and {"id", "file", "created_at"} <= e.keys() for e in entries):
            raise ValueError
        return [dict(entry) for entry in entries]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise KeyMaterialError(f"{path}: not a data-key ring (keys: id, file, created_at)") from None


def _configured_data_key(encryption_key: str) -> bytes:
    try:
        configured = bytes.fromhex(encryption_key)
    except ValueError:
        raise KeyMaterialError("encryption_key: must be 64 hex digits") from None
    if len(configured) != 32:
        raise KeyMaterialError("encryption_key: must be 64 hex digits")
    return configured


def read_data_key_ring(certs_dir: str | os.PathLike[str], encryption_key: str = "") -> tuple[DataKey, ...]:
    """Every data key, the one that seals first: the ring's keys (``data-keys.json``, current first),
    then the ``encryption_key`` setting, then the lines of the legacy ``data-encryption.key``.
    Without a ring, the setting seals, else the legacy file's first line (as before rotation existed)."""
    directory = Path(certs_dir)
    members: list[DataKey] = []
    index = _data_key_index(directory)
    for entry in index:
        path = directory / Path(entry["file"]).name
        key = hex_keys(path)[0]
        if data_key_id(key) != entry["id"]:
            raise KeyMaterialError(f"{path}: does not hold data key {entry['id']}")
        members.append(DataKey(entry["id"], key, path.name, dt.datetime.fromisoformat(entry["created_at"])))
    if encryption_key:
        configured = _configured_data_key(encryption_key)
        members.append(DataKey(data_key_id(configured), configured, CONFIGURED_DATA_KEY))
    legacy = directory / DATA_ENCRYPTION
    if legacy.exists() or not index:
        members += [DataKey(data_key_id(key), key, DATA_ENCRYPTION) for key in hex_keys(legacy)]
    seen: set[str] = set()
    unique = []
    for member in members:
        if member.key_id not in seen:
            seen.add(member.key_id)
            unique.append(member)
    return tuple(unique)


def _write_data_key_index(directory: Path, entries: list[dict[str, str]]) -> None:
    write_atomically(directory / DATA_KEYS_INDEX, (json.dumps({"keys": entries}, indent=2) + "\n").encode())


def rotate_data_keys(certs_dir: str | os.PathLike[str], now: dt.datetime) -> DataKey:
    """A new data key, written to its own file, becomes the ring's first (sealing) member; every
    key before it stays in the ring to open what it sealed."""
    directory = Path(certs_dir)
    key = secrets.token_bytes(32)
    key_id = data_key_id(key)
    name = f"data-key-{key_id}.key"
    write_atomically(directory / name, (key.hex() + "\n").encode())
    entry = {"id": key_id, "file": name, "created_at": now.astimezone(dt.UTC).isoformat()}
    _write_data_key_index(directory, [entry, *_data_key_index(directory)])
    return DataKey(key_id, key, name, now)


def retire_data_keys(certs_dir: str | os.PathLike[str], key_ids: set[str]) -> list[str]:
    """Remove the named keys from the ring's files (never its current key, never the
    ``encryption_key`` setting, which is not a file). Returns the ids removed."""
    directory = Path(certs_dir)
    index = _data_key_index(directory)
    if not index:
        raise KeyMaterialError(f"{directory / DATA_KEYS_INDEX}: no data-key ring (rotate first)")
    key_ids = key_ids - {index[0]["id"]}
    removed: list[str] = []
    kept = [entry for entry in index if entry["id"] not in key_ids]
    _write_data_key_index(directory, kept)
    for entry in index:
        if entry["id"] in key_ids:
            (directory / Path(entry["file"]).name).unlink(missing_ok=True)
            removed.append(entry["id"])
    legacy = directory / DATA_ENCRYPTION
    if legacy.exists():
        lines = hex_keys(legacy)
        remaining = [key for key in lines if data_key_id(key) not in key_ids]
        removed += [data_key_id(key) for key in lines if data_key_id(key) in key_ids]
        if not remaining:
            legacy.unlink()
        elif len(remaining) != len(lines):
            write_atomically(legacy, "".join(key.hex() + "\n" for key in remaining).encode())
    return removed
