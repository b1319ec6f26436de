"""A key file that is empty, half-written or the wrong kind is one line naming it at start-up
(``broker init --require-keys``, ``broker serve``), never a traceback or a broker that says ready."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.crypto.keys import KeyMaterialError, load_keys, read_token_ring
from tests.cli.test_operator_errors import broker, one_line


def broken(content: bytes, kind: str) -> bytes:
    return b"" if kind == "empty" else content[: len(content) // 2]


@pytest.mark.parametrize("kind", ["empty", "half-written"])
def test_a_broken_token_key_is_one_line(tmp_path: Path, keys_dir: Path, kind: str) -> None:
    certs = tmp_path / "certs"
    shutil.copytree(keys_dir, certs)
    token = certs / f"token-{read_token_ring(certs).current}.pem"
    token.write_bytes(broken(token.read_bytes(), kind))
    with pytest.raises(KeyMaterialError, match=rf"^{token}: not a PEM private key$"):
        load_keys(certs)
    assert one_line(broker(tmp_path, "init", "--require-keys")) == f"broker: {token}: not a PEM private key"
