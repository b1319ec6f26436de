"""The audit signing key: created by `ensure_keys`, published as a JWKS, rotated without orphaning digests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.crypto.keys import AUDIT_SIGNING, KeyMaterialError, ensure_keys, load_keys, rotate_audit_key
from broker.services.audit.digests import SignedDigest
from broker.services.audit.worker import seal
from broker.services.runtime import Runtime
from tests.services.audit.support import verify, write_events


def test_ensure_keys_creates_a_private_ed25519_key(tmp_path: Path) -> None:
    assert AUDIT_SIGNING in ensure_keys(tmp_path, "audit")
    assert (tmp_path / AUDIT_SIGNING).stat().st_mode & 0o077 == 0
    ring = load_keys(tmp_path).audit_keys
    (jwk,) = ring.jwks()["keys"]
    assert jwk == {
        "crv": "Ed25519",
        "kty": "OKP",
        "x": jwk["x"],
        "use": "audit-digest",
        "alg": "EdDSA",
        "kid": ring.kid,
    }
    (tmp_path / AUDIT_SIGNING).write_text("not a key")
    with pytest.raises(KeyMaterialError, match=r"audit-signing\.key: not a PEM private key$"):
        load_keys(tmp_path)


def test_digests_signed_before_a_rotation_still_verify(audit_runtime: Runtime, tmp_path: Path) -> None:
    write_events(audit_runtime, 2)
    before = seal(audit_runtime)
    certs = Path(audit_runtime.settings.certs_dir)
    rotated = tmp_path / "rotated"
    shutil.copytree(certs, rotated)
    new_kid = rotate_audit_key(rotated)
    assert before is not None and new_kid != before.key_id
    audit_runtime.keys = load_keys(rotated)
    write_events(audit_runtime, 2)
    after = seal(audit_runtime)
    assert after is not None and after.key_id == new_kid
    assert {k["kid"] for k in audit_runtime.keys.audit_keys.jwks()["keys"]} == {before.key_id, new_kid}
    assert SignedDigest.from_row(before).signature_valid(audit_runtime.keys.audit_keys)
    assert verify(audit_runtime).ok
