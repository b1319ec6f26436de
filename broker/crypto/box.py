"""Authenticated encryption of secrets at rest (AES-256-GCM with a key ring).

Format: ``v1.<key-id>.<base64url(nonce || ciphertext+tag)>``; the key id is the first
8 hex digits of SHA-256(key), so rotating the key ring never makes old rows unreadable.
The associated data binds a ciphertext to its row (e.g. the access key id), so a secret
copied onto another row fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DecryptionError(Exception):
    pass


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def sealed_key_id(token: str) -> str | None:
    """The id of the data key that sealed ``token``, as the token names it (None if it names none)."""
    version, _, rest = token.partition(".")
    key_id, dot, _body = rest.partition(".")
    return key_id if version == "v1" and dot else None


class SecretBox:
    def __init__(self, keys: tuple[bytes, ...]) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        self._encrypt_key = keys[0]
        self._keys = {_key_id(k): AESGCM(k) for k in keys}
        self.sealing_key_id = _key_id(keys[0])
        self.key_ids = tuple(self._keys)

    def is_current(self, token: str) -> bool:
        """Whether ``token`` was sealed by the key that seals now (else it is due a re-seal)."""
        return token.startswith(f"v1.{self.sealing_key_id}.")

    def seal(self, plaintext: str, associated_data: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._encrypt_key).encrypt(nonce, plaintext.encode(), associated_data.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"v1.{self.sealing_key_id}.{body}"

    def open(self, token: str, associated_data: str) -> str:
        try:
            version, key_id, body = token.split(".", 2)
        except ValueError:
            raise DecryptionError("malformed ciphertext") from None
        aead = self._keys.get(key_id)
        if version != "v1" or aead is None:
            raise DecryptionError(f"no key {key_id!r} in the key ring")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            return aead.decrypt(raw[:12], raw[12:], associated_data.encode()).decode()
        except InvalidTag:
            raise DecryptionError("ciphertext does not authenticate") from None
