"""Key material on disk: generated once by ``broker init``, loaded at start-up.

Layout under ``certs/`` (all git-ignored):
- ``sp-signing.key`` / ``sp-signing.crt``: RSA key pair the SP signs AuthnRequests with.
- ``sp-encryption.key`` / ``sp-encryption.crt``: RSA key pair IdPs encrypt assertions to.
- ``token-<kid>.pem``: ES256 keys for session tokens; ``token-keys.json`` names current/next/previous
  and when the ring last rotated (``rotated_at``).
- ``sp-signing-next.*`` / ``sp-encryption-next.*`` and ``sp-rollover.json``: during an SP certificate
  rollover, the staged key pairs and when they were staged (``broker keys rotate --sp-certificate``).
- ``secret-derivation.key``: HMAC key deriving temporary secrets from token ids.
- ``data-encryption.key``: AES-256-GCM key ring for secrets at rest (one hex key a line, the first
  encrypts). ``broker keys rotate --encryption`` adds ``data-key-<id>.key`` files and
  ``data-keys.json`` naming them, current first; the legacy file's keys stay members (decrypt only).
- ``audit-signing.key``: Ed25519 key the audit trail's digests are signed with; its public part
  is published at ``/.well-known/audit-keys.json``. ``audit-retired-keys.json`` keeps the public
  keys of earlier ones, so digests they signed still verify after a rotation.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from broker.crypto.data_keys import (
    CONFIGURED_DATA_KEY,
    DATA_ENCRYPTION,
    DATA_KEYS_INDEX,
    DataKey,
    data_key_id,
    read_data_key_ring,
    retire_data_keys,
    rotate_data_keys,
)
from broker.crypto.keyfiles import (
    KeyMaterialError,
    hex_keys,
    keys_locked,
    private_directory,
    read_key_file,
    read_key_pair,
    read_private_key,
    write_atomically,
    write_new_private,
    write_private,
)

__all__ = [
    "CONFIGURED_DATA_KEY",
    "DATA_ENCRYPTION",
    "DATA_KEYS_INDEX",
    "DataKey",
    "KeyMaterialError",
    "data_key_id",
    "read_data_key_ring",
    "read_key_file",
    "retire_data_keys",
    "rotate_data_keys",
    "write_atomically",
]

SP_SIGNING = "sp-signing"
SP_ENCRYPTION = "sp-encryption"
TOKEN_KEYS_INDEX = "token-keys.json"
SECRET_DERIVATION = "secret-derivation.key"
AUDIT_SIGNING = "audit-signing.key"
AUDIT_RETIRED = "audit-retired-keys.json"
AUDIT_KEY_USE = "audit-digest"
SP_ROLLOVER_INDEX = "sp-rollover.json"
NEXT_SUFFIX = "-next"


def generate_rsa_pair(common_name: str, key_size: int = 3072, days: int = 3650) -> tuple[bytes, bytes]:
    """A new RSA key (PKCS#8 PEM) and a self-signed certificate (PEM) for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def generate_ec_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def jwk_thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 thumbprint of an EC P-256 public key, used as ``kid``."""
    numbers = public_key.public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    digest = hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    return _b64(digest)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class TokenKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    # Derived once: every session token a request carries is verified with it.
    public_key: ec.EllipticCurvePublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.private_key.public_key())

    def public_jwk(self) -> dict[str, str]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "use": "sig",
            "alg": "ES256",
            "kid": self.kid,
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }


@dataclass(frozen=True)
class TokenKeyRing:
    """Signs with ``current``; verifies with current, next (pre-published) and previous."""

    current: TokenKey
    next: TokenKey | None
    previous: TokenKey | None

    def verification_keys(self) -> Mapping[str, TokenKey]:
        return self._by_kid

    @cached_property
    def _by_kid(self) -> Mapping[str, TokenKey]:
        keys = [self.current, self.next, self.previous]
        return MappingProxyType({k.kid: k for k in keys if k is not None})

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk() for k in self.verification_keys().values()]}


def _okp_jwk(public_key: ed25519.Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}


def okp_thumbprint(public_key: ed25519.Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint of an Ed25519 public key (RFC 8037), used as the audit key's ``kid``."""
    canonical = json.dumps(_okp_jwk(public_key), separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def audit_public_jwk(public_key: ed25519.Ed25519PublicKey) -> dict[str, str]:
    return {**_okp_jwk(public_key), "use": AUDIT_KEY_USE, "alg": "EdDSA", "kid": okp_thumbprint(public_key)}


def audit_public_key_from_jwk(jwk: dict[str, str]) -> ed25519.Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("not an Ed25519 JWK")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class AuditKeyRing:
    """Signs audit digests with ``current``; verifies with it and with the retired public keys."""

    current: ed25519.Ed25519PrivateKey
    retired: tuple[ed25519.Ed25519PublicKey, ...] = ()

    @property
    def kid(self) -> str:
        return okp_thumbprint(self.current.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.current.sign(message)

    def public_keys(self) -> dict[str, ed25519.Ed25519PublicKey]:
        keys = [self.current.public_key(), *self.retired]
        return {okp_thumbprint(k): k for k in keys}

    def verify(self, kid: str, signature: bytes, message: bytes) -> bool:
        key = self.public_keys().get(kid)
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [audit_public_jwk(k) for k in self.public_keys().values()]}


@dataclass(frozen=True)
class SpRollover:
    """SP key pairs staged to replace the current ones (``sp-*-next.*``)."""

    staged_at: dt.datetime
    signing_key_pem: bytes
    signing_cert_pem: bytes
    encryption_key_pem: bytes
    encryption_cert_pem: bytes


@dataclass(frozen=True)
class TokenRingIndex:
    """What ``token-keys.json`` says: the kids of the ring and when it last rotated."""

    current: str
    next: str | None
    previous: str | None
    rotated_at: dt.datetime | None

    def to_json(self) -> bytes:
        document = {
            "current": self.current,
            "next": self.next,
            "previous": self.previous,
            "rotated_at": self.rotated_at.isoformat() if self.rotated_at else None,
        }
        return (json.dumps(document, indent=2) + "\n").encode()


@dataclass(frozen=True)
class KeyMaterial:
    sp_signing_key_pem: bytes
    sp_signing_cert_pem: bytes
    sp_encryption_key_pem: bytes
    sp_encryption_cert_pem: bytes
    token_keys: TokenKeyRing
    secret_derivation_key: bytes
    data_encryption_keys: tuple[bytes, ...]  # first encrypts; all decrypt (rotation)
    certs_dir: Path
    audit_keys: AuditKeyRing
    sp_rollover: SpRollover | None = None  # an SP certificate rollover in progress

    def sp_decryption_keys(self) -> tuple[bytes, ...]:
        """Every SP encryption key an IdP may have encrypted to (the staged one during a rollover)."""
        staged = (self.sp_rollover.encryption_key_pem,) if self.sp_rollover else ()
        return (self.sp_encryption_key_pem, *staged)

    def sp_signing_key_file(self) -> str:
        return str(self.certs_dir / f"{SP_SIGNING}.key")

    def sp_signing_cert_file(self) -> str:
        return str(self.certs_dir / f"{SP_SIGNING}.crt")

    def sp_encryption_key_file(self) -> str:
        return str(self.certs_dir / f"{SP_ENCRYPTION}.key")

    def sp_encryption_cert_file(self) -> str:
        return str(self.certs_dir / f"{SP_ENCRYPTION}.crt")


def _new_token_key_file(directory: Path) -> str:
    pem = generate_ec_key()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    kid = jwk_thumbprint(key.public_key())
    write_new_private(directory / f"token-{kid}.pem", pem)
    return kid


def missing_key_files(certs_dir: str | os.PathLike[str]) -> list[str]:
    """The key files :func:`ensure_keys` would create in ``certs_dir`` (none when all are there)."""
    directory = Path(certs_dir)
    names = [f"{stem}.{kind}" for stem in (SP_SIGNING, SP_ENCRYPTION) for kind in ("key", "crt")]
    names += [TOKEN_KEYS_INDEX, SECRET_DERIVATION, AUDIT_SIGNING]
    if not (directory / DATA_KEYS_INDEX).exists():  # a rotated ring may have retired the legacy file
        names.append(DATA_ENCRYPTION)
    return [name for name in names if not (directory / name).exists()]


def ensure_keys(certs_dir: str | os.PathLike[str], common_name: str) -> list[str]:
    """Create whatever key material is missing; keep what exists. Returns the files created.

    Processes sharing ``certs_dir`` (several ``broker init`` at once) take turns under a lock on it,
    so each sees the other's files and one key set results; each file appears whole or not at all.
    """
    directory = Path(certs_dir)
    private_directory(directory)
    if not missing_key_files(directory):
        return []  # nothing to write: a read-only mounted directory needs no lock file
    with keys_locked(directory):
        return _create_missing_keys(directory, common_name)


def _create_missing_keys(directory: Path, common_name: str) -> list[str]:
    created: list[str] = []
    for stem in (SP_SIGNING, SP_ENCRYPTION):
        key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.crt"
        if not key_path.exists() or not cert_path.exists():  # a pair: both are (re)made together
            key_pem, cert_pem = generate_rsa_pair(f"{common_name} {stem}")
            write_atomically(key_path, key_pem)
            write_atomically(cert_path, cert_pem, mode=0o644)
            created += [key_path.name, cert_path.name]
    index = directory / TOKEN_KEYS_INDEX
    if not index.exists():
        ring = TokenRingIndex(
            current=_new_token_key_file(directory), next=_new_token_key_file(directory), previous=None, rotated_at=None
        )
        write_new_private(index, ring.to_json())
        created.append(index.name)
    for name in (SECRET_DERIVATION, DATA_ENCRYPTION):
        path = directory / name
        if name == DATA_ENCRYPTION and (directory / DATA_KEYS_INDEX).exists():
            continue  # the data-key ring has replaced it (its keys may have been retired)
        if not path.exists():
            write_new_private(path, (secrets.token_hex(32) + "\n").encode())
            created.append(name)
    audit_path = directory / AUDIT_SIGNING
    if not audit_path.exists():
        write_new_private(audit_path, _new_audit_key_pem())
        created.append(AUDIT_SIGNING)
    return created


def _new_audit_key_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def rotate_audit_key(certs_dir: str | os.PathLike[str]) -> str:
    """A fresh audit signing key; the old public key is kept in the retired list. Returns the new kid."""
    directory = Path(certs_dir)
    old = _load_audit_key(directory)
    retired = [*_load_retired_audit_keys(directory), old.current.public_key()]
    (directory / AUDIT_RETIRED).write_text(
        json.dumps({"keys": [audit_public_jwk(k) for k in retired]}, indent=2) + "\n"
    )
    pem = _new_audit_key_pem()
    write_private(directory / AUDIT_SIGNING, pem)
    return _load_audit_key(directory).kid


def read_token_ring(certs_dir: str | os.PathLike[str]) -> TokenRingIndex:
    path = Path(certs_dir) / TOKEN_KEYS_INDEX
    try:
        ring = json.loads(read_key_file(path))
        rotated_at = ring.get("rotated_at")
        return TokenRingIndex(
            current=ring["current"],
            next=ring.get("next"),
            previous=ring.get("previous"),
            rotated_at=dt.datetime.fromisoformat(rotated_at) if rotated_at else None,
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise KeyMaterialError(f"{path}: not a token key ring (current, next, previous, rotated_at)") from None


def rotate_token_keys(certs_dir: str | os.PathLike[str], now: dt.datetime | None = None) -> TokenRingIndex:
    """next becomes current, current becomes previous, and a fresh next is pre-published.

    The old previous key leaves the ring (its file is deleted). The index is replaced in one step
    after the new key file exists: a broker reading it at any moment loads a whole ring.
    """
    directory = Path(certs_dir)
    ring = read_token_ring(directory)
    rotated = TokenRingIndex(
        previous=ring.current,
        current=ring.next or _new_token_key_file(directory),
        next=_new_token_key_file(directory),
        rotated_at=now or dt.datetime.now(dt.UTC),
    )
    write_atomically(directory / TOKEN_KEYS_INDEX, rotated.to_json())
    if ring.previous and ring.previous not in (rotated.current, rotated.next, rotated.previous):
        (directory / f"token-{ring.previous}.pem").unlink(missing_ok=True)
    return rotated


def sp_key_files(directory: Path, stem: str, suffix: str = "") -> tuple[Path, Path]:
    return directory / f"{stem}{suffix}.key", directory / f"{stem}{suffix}.crt"


def _load_sp_rollover(directory: Path) -> SpRollover | None:
    path = directory / SP_ROLLOVER_INDEX
    if not path.exists():
        return None
    try:
        staged_at = dt.datetime.fromisoformat(json.loads(read_key_file(path))["staged_at"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise KeyMaterialError(f"{path}: not an SP rollover index (staged_at)") from None
    signing_key, signing_cert = sp_key_files(directory, SP_SIGNING, NEXT_SUFFIX)
    encryption_key, encryption_cert = sp_key_files(directory, SP_ENCRYPTION, NEXT_SUFFIX)
    return SpRollover(
        staged_at=staged_at,
        signing_key_pem=read_key_file(signing_key),
        signing_cert_pem=read_key_file(signing_cert),
        encryption_key_pem=read_key_file(encryption_key),
        encryption_cert_pem=read_key_file(encryption_cert),
    )


def _load_token_key(directory: Path, kid: str | None) -> TokenKey | None:
    if not kid:
        return None
    key = read_private_key(directory / f"token-{kid}.pem")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyMaterialError(f"{directory}/token-{kid}.pem: not an EC P-256 key")
    return TokenKey(kid=kid, private_key=key)


def _load_retired_audit_keys(directory: Path) -> list[ed25519.Ed25519PublicKey]:
    path = directory / AUDIT_RETIRED
    if not path.exists():
        return []
    try:
        document = json.loads(read_key_file(path))
        return [audit_public_key_from_jwk(jwk) for jwk in document["keys"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise KeyMaterialError(f"{path}: not a JWKS of Ed25519 public keys") from None


def _load_audit_key(directory: Path) -> AuditKeyRing:
    path = directory / AUDIT_SIGNING
    key = read_private_key(path)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyMaterialError(f"{path}: not an Ed25519 key")
    return AuditKeyRing(current=key, retired=tuple(_load_retired_audit_keys(directory)))


def load_keys(certs_dir: str | os.PathLike[str], encryption_key: str = "") -> KeyMaterial:
    directory = Path(certs_dir)
    ring = read_token_ring(directory)
    current = _load_token_key(directory, ring.current)
    if current is None:
        raise KeyMaterialError(f"{directory / TOKEN_KEYS_INDEX}: no current key")
    data_keys = tuple(member.key for member in read_data_key_ring(directory, encryption_key))
    signing_key, signing_cert = read_key_pair(*sp_key_files(directory, SP_SIGNING))
    sp_encryption_key, sp_encryption_cert = read_key_pair(*sp_key_files(directory, SP_ENCRYPTION))
    return KeyMaterial(
        sp_signing_key_pem=signing_key,
        sp_signing_cert_pem=signing_cert,
        sp_encryption_key_pem=sp_encryption_key,
        sp_encryption_cert_pem=sp_encryption_cert,
        token_keys=TokenKeyRing(
            current=current,
            next=_load_token_key(directory, ring.next),
            previous=_load_token_key(directory, ring.previous),
        ),
        secret_derivation_key=hex_keys(directory / SECRET_DERIVATION)[0],
        data_encryption_keys=data_keys,
        certs_dir=directory,
        audit_keys=_load_audit_key(directory),
        sp_rollover=_load_sp_rollover(directory),
    )
