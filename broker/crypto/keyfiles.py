"""Key files on disk: written privately and atomically, read with errors that name the file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

KEYS_LOCK = ".keys.lock"


class KeyMaterialError(Exception):
    """A key file is missing or unreadable; the message names the file."""


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # O_CREAT's mode applies only to a file it creates
        fh.write(data)


def _durable_temporary(path: Path, data: bytes, mode: int) -> str:
    """``data`` in a new file beside ``path`` (same directory: a rename or link stays on its file
    system), with ``mode``, on disk before it is put in place; removed again if writing fails."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary


def write_new_private(path: Path, data: bytes, mode: int = 0o600) -> bytes:
    """Create ``path`` holding ``data`` in one step, never replacing a file already there: a reader
    sees no file or the whole file. Returns what ``path`` holds, another writer's bytes if it won."""
    temporary = _durable_temporary(path, data, mode)
    try:
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes()
        return data
    finally:
        Path(temporary).unlink(missing_ok=True)


@contextlib.contextmanager
def keys_locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the key directory (``.keys.lock`` in it): processes sharing the
    directory, on one host or through a volume, create its key files one at a time."""
    fd = os.open(directory / KEYS_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` in one step: a reader sees the old file or the new, never half."""
    temporary = _durable_temporary(path, data, mode)
    try:
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def private_directory(directory: Path) -> None:
    """Create the key directory 0700 when it is missing. One that exists is left as it is: it may
    be a mounted secret, or a directory the operator chose (its key files are 0600 anyway)."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)  # mkdir's mode is masked by the umask


def read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyMaterialError(f"{path}: missing; run `broker init` to create key material") from None
    except OSError as exc:
        raise KeyMaterialError(f"{path}: unreadable: {exc.strerror}") from None


def read_private_key(path: Path, pem: bytes | None = None) -> PrivateKeyTypes:
    """The unencrypted PEM private key in ``path``; an empty, half-written or foreign file is one
    line naming it, not a traceback."""
    try:
        # RSA's consistency check (about 0.1 s for a 3072-bit key) is skipped: every start-up and
        # every runtime paid it, and the SP pair's certificate is checked against the key below.
        return serialization.load_pem_private_key(
            read_key_file(path) if pem is None else pem, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError):  # TypeError: a key that asks for a password
        raise KeyMaterialError(f"{path}: not a PEM private key") from None


def read_key_pair(key_path: Path, cert_path: Path) -> tuple[bytes, bytes]:
    """An SP key and its certificate as PEM, both parsed and checked to belong together: a broken
    pair is refused at start-up instead of failing each SAML login."""
    key_pem, cert_pem = read_key_file(key_path), read_key_file(cert_path)
    key = read_private_key(key_path, key_pem)
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise KeyMaterialError(f"{cert_path}: not a PEM X.509 certificate") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise KeyMaterialError(f"{cert_path}: not the certificate of {key_path.name}")
    return key_pem, cert_pem


def hex_keys(path: Path) -> tuple[bytes, ...]:
    keys = []
    for line in read_key_file(path).decode().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                key = bytes.fromhex(line)
            except ValueError:
                raise KeyMaterialError(f"{path}: each line must be a hex key") from None
            if len(key) != 32:
                raise KeyMaterialError(f"{path}: keys must be 32 bytes (64 hex digits)")
            keys.append(key)
    if not keys:
        raise KeyMaterialError(f"{path}: no key")
    return tuple(keys)
