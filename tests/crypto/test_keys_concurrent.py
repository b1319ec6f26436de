"""Several processes creating the keys of one empty certs dir at once (three ``broker init`` on a
shared volume) end with one key set: every process reads back the same keys, no orphan files."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

import broker.crypto.keys as keys_module
from broker.crypto.keys import ensure_keys, load_keys, read_token_ring

PROCESSES = 4


def _slowly(write: Any) -> Any:
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)  # between the existence check and the write: a slow volume, a busy host
        return write(*args, **kwargs)

    return slow


def _init_and_read_back(directory: str, start: Any, results: Any) -> None:
    start.wait()
    ensure_keys(directory, common_name="race")
    material = load_keys(directory)
    results.put(
        (
            material.token_keys.current.kid,
            material.audit_keys.kid,
            material.secret_derivation_key,
            material.data_encryption_keys,
            material.sp_signing_key_pem,
            material.sp_signing_cert_pem,
        )
    )


def test_concurrent_ensure_keys_make_one_key_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("write_new_private", "write_atomically", "write_private"):
        if hasattr(keys_module, name):
            monkeypatch.setattr(keys_module, name, _slowly(getattr(keys_module, name)))
    directory = tmp_path / "certs"
    context = multiprocessing.get_context("fork")  # the children inherit the slowed writes
    start, results = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(target=_init_and_read_back, args=(str(directory), start, results)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    seen = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert all(one == seen[0] for one in seen)  # each process read back the same keys
    final = load_keys(directory)
    assert seen[0][0] == final.token_keys.current.kid and seen[0][1] == final.audit_keys.kid
    ring = read_token_ring(directory)
    assert sorted(p.name for p in directory.glob("token-*.pem")) == sorted(
        f"token-{k}.pem" for k in (ring.current, ring.next)
    )
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".") and p.name != ".keys.lock"]
