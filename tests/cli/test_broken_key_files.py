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


@pytest.mark.parametrize("kind", ["empty", "half-written"])
@pytest.mark.parametrize(
    ("name", "message"),
    [("sp-signing.key", "not a PEM private key"), ("sp-signing.crt", "not a PEM X.509 certificate")],
)
def test_a_broken_sp_signing_key_or_certificate_is_one_line(
    tmp_path: Path, keys_dir: Path, kind: str, name: str, message: str
) -> None:
    certs = tmp_path / "certs"
    shutil.copytree(keys_dir, certs)
    path = certs / name
    path.write_bytes(broken(path.read_bytes(), kind))
    with pytest.raises(KeyMaterialError, match=rf"^{path}: {message}$"):
        load_keys(certs)
    assert one_line(broker(tmp_path, "init", "--require-keys")) == f"broker: {path}: {message}"


def test_an_sp_certificate_of_another_key_is_one_line(tmp_path: Path, keys_dir: Path) -> None:
    certs = tmp_path / "certs"
    shutil.copytree(keys_dir, certs)
    shutil.copyfile(certs / "sp-encryption.crt", certs / "sp-signing.crt")
    expected = f"{certs / 'sp-signing.crt'}: not the certificate of sp-signing.key"
    with pytest.raises(KeyMaterialError, match=rf"^{expected}$"):
        load_keys(certs)
    assert one_line(broker(tmp_path, "init", "--require-keys")) == f"broker: {expected}"
