"""Rotation steps on the key files (``broker keys``): retiring a token key, an SP certificate
rollover, and the stamp by which a running broker notices that the files changed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

from broker.crypto.keys import (
    DATA_ENCRYPTION,
    DATA_KEYS_INDEX,
    NEXT_SUFFIX,
    SP_ENCRYPTION,
    SP_ROLLOVER_INDEX,
    SP_SIGNING,
    TOKEN_KEYS_INDEX,
    generate_rsa_pair,
    read_token_ring,
    sp_key_files,
    write_atomically,
)


def retire_previous_token_key(certs_dir: str | os.PathLike[str]) -> str | None:
    """Drop the previous key from the ring (and its file); returns its kid, None when there was none."""
    directory = Path(certs_dir)
    ring = read_token_ring(directory)
    if ring.previous is None:
        return None
    write_atomically(directory / TOKEN_KEYS_INDEX, dataclasses.replace(ring, previous=None).to_json())
    if ring.previous not in (ring.current, ring.next):
        (directory / f"token-{ring.previous}.pem").unlink(missing_ok=True)
    return ring.previous


def stage_sp_keys(certs_dir: str | os.PathLike[str], common_name: str, now: dt.datetime) -> None:
    """New SP signing and encryption pairs written as ``sp-*-next.*``, then the index naming when."""
    directory = Path(certs_dir)
    for stem in (SP_SIGNING, SP_ENCRYPTION):
        key_path, cert_path = sp_key_files(directory, stem, NEXT_SUFFIX)
        key_pem, cert_pem = generate_rsa_pair(f"{common_name} {stem}")
        write_atomically(key_path, key_pem)
        write_atomically(cert_path, cert_pem, mode=0o644)
    index = {"staged_at": now.isoformat()}
    write_atomically(directory / SP_ROLLOVER_INDEX, (json.dumps(index, indent=2) + "\n").encode())


def finish_sp_rollover(certs_dir: str | os.PathLike[str]) -> None:
    """The staged SP pairs replace the current ones; the old ones are gone."""
    directory = Path(certs_dir)
    for stem in (SP_SIGNING, SP_ENCRYPTION):
        for staged, live in zip(sp_key_files(directory, stem, NEXT_SUFFIX), sp_key_files(directory, stem), strict=True):
            os.replace(staged, live)
    (directory / SP_ROLLOVER_INDEX).unlink()


def key_files_stamp(certs_dir: str | os.PathLike[str]) -> tuple[int, ...]:
    """Changes whenever a rotation rewrites the files a broker loads: each is replaced by a rename,
    so its inode changes even when two rewrites fall in one tick of the modification time."""
    directory = Path(certs_dir)
    stamps: list[int] = []
    names = (TOKEN_KEYS_INDEX, SP_ROLLOVER_INDEX, f"{SP_SIGNING}.crt", f"{SP_ENCRYPTION}.crt")
    for name in (*names, DATA_KEYS_INDEX, DATA_ENCRYPTION):
        try:
            status = os.stat(directory / name)
        except OSError:
            stamps += (-1, -1)
        else:
            stamps += (status.st_ino, status.st_mtime_ns)
    return tuple(stamps)
