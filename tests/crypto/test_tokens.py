"""Session tokens (ES256 JWTs with kid), derived secrets, key rings and sealed secrets."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import jwt
import pytest

from broker.crypto.box import DecryptionError, SecretBox
from broker.crypto.keys import KeyMaterialError, ensure_keys, load_keys, rotate_token_keys
from broker.crypto.tokens import (
    TOKEN_TYPE,
    ExpiredSessionToken,
    InvalidSessionToken,
    SessionClaims,
    decode_session_token,
    derive_secret,
    encode_session_token,
)

ISSUER = "https://sso.example.com"


def claims(**overrides: object) -> SessionClaims:
    values: dict[str, object] = dict(
        token_id="tok-1",
        access_key_id="ASIAABCDEFGHIJKLMNOP",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/Dev",
        role_name="Dev",
        role_id="AROAABCDEFGHIJKLMNOPQ",
        session_name="alice",
        assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Dev/alice",
        issued_at=1_800_000_000,
        expires_at=1_800_003_600,
        session_tags={"team": "blue"},
        transitive_tag_keys=("team",),
        source_identity="alice",
        provider_arn="arn:aws:iam::123456789012:saml-provider/x",
        federated={"saml:sub": "alice"},
    )
    values.update(overrides)
    return SessionClaims(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    ensure_keys(directory, "test")
    return directory


def test_round_trip_carries_the_session(certs: Path) -> None:
    keys = load_keys(certs).token_keys
    token = encode_session_token(claims(), keys, ISSUER)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == keys.current.kid
    decoded = decode_session_token(token, keys, ISSUER, now=1_800_000_100)
    assert decoded == claims()
    assert decoded.user_id == "AROAABCDEFGHIJKLMNOPQ:alice"


def test_expired_forged_and_foreign_tokens(certs: Path, tmp_path: Path) -> None:
    keys = load_keys(certs).token_keys
    token = encode_session_token(claims(), keys, ISSUER)
    with pytest.raises(ExpiredSessionToken):
        decode_session_token(token, keys, ISSUER, now=1_800_003_600)
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["role"] = "arn:aws:iam::123456789012:role/Admin"
    forged = ".".join((header, base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("="), signature))
    with pytest.raises(InvalidSessionToken):
        decode_session_token(forged, keys, ISSUER, now=1_800_000_100)
    with pytest.raises(InvalidSessionToken):
        decode_session_token(token, keys, "https://other.example", now=1_800_000_100)
    other = tmp_path / "other"
    ensure_keys(other, "other")
    with pytest.raises(InvalidSessionToken):
        decode_session_token(token, load_keys(other).token_keys, ISSUER, now=1_800_000_100)
    unsigned = jwt.encode(body, key="", algorithm="none", headers={"kid": keys.current.kid})  # type: ignore[arg-type]
    with pytest.raises(InvalidSessionToken):
        decode_session_token(unsigned, keys, ISSUER, now=1_800_000_100)
    with pytest.raises(InvalidSessionToken):
        decode_session_token("not-a-jwt", keys, ISSUER)


def test_the_key_is_chosen_from_the_header_but_the_strict_parse_decides(certs: Path) -> None:
    """The kid is read from the header segment alone to pick the key; PyJWT's strict parse of the
    whole token must then agree, so a header only a lenient decoder reads is refused."""
    keys = load_keys(certs).token_keys
    token = encode_session_token(claims(), keys, ISSUER)
    header, payload, signature = token.split(".")
    for bad_header in (header + "!!", "!" + header, header[:-1]):
        with pytest.raises(InvalidSessionToken):
            decode_session_token(".".join((bad_header, payload, signature)), keys, ISSUER, now=1_800_000_100)
    for fields in ({"alg": "ES256", "typ": TOKEN_TYPE}, {"alg": "ES256", "typ": TOKEN_TYPE, "kid": 7}, ["kid"]):
        odd = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
        with pytest.raises(InvalidSessionToken):
            decode_session_token(".".join((odd, payload, signature)), keys, ISSUER, now=1_800_000_100)
    # Signed by the broker's own key but not as a session token: the verified header decides.
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other_type = jwt.encode(body, keys.current.private_key, algorithm="ES256", headers={"kid": keys.current.kid})
    assert jwt.get_unverified_header(other_type)["typ"] == "JWT"
    with pytest.raises(InvalidSessionToken):
        decode_session_token(other_type, keys, ISSUER, now=1_800_000_100)


def test_rotation_keeps_old_tokens_valid_and_publishes_next(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "rot")
    before = load_keys(tmp_path).token_keys
    token = encode_session_token(claims(), before, ISSUER)
    rotate_token_keys(tmp_path)
    after = load_keys(tmp_path).token_keys
    assert after.current.kid == before.next.kid  # type: ignore[union-attr]
    assert after.previous is not None and after.previous.kid == before.current.kid
    assert decode_session_token(token, after, ISSUER, now=1_800_000_100).token_id == "tok-1"
    assert {k["kid"] for k in after.jwks()["keys"]} == {after.current.kid, after.next.kid, after.previous.kid}  # type: ignore[union-attr]


def test_derived_secret_is_stable_and_key_bound() -> None:
    secret = derive_secret(b"k" * 32, "tok-1")
    assert len(secret) == 40
    assert secret == derive_secret(b"k" * 32, "tok-1")
    assert secret != derive_secret(b"k" * 32, "tok-2")
    assert secret != derive_secret(b"j" * 32, "tok-1")


def test_ensure_keys_is_idempotent_and_private(tmp_path: Path) -> None:
    created = ensure_keys(tmp_path, "idem")
    assert "sp-signing.key" in created and "token-keys.json" in created
    assert ensure_keys(tmp_path, "idem") == []
    assert (tmp_path / "sp-signing.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "data-encryption.key").stat().st_mode & 0o077 == 0


def test_missing_key_material_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match=re.escape("token-keys.json: missing; run `broker init`")):
        load_keys(tmp_path)


def test_secret_box_seals_to_its_row_and_rotates() -> None:
    old, new = b"o" * 32, b"n" * 32
    sealed = SecretBox((old,)).seal("wJalrXUtnFEMI/K7MDENG", "AKIAOLD")
    assert "wJalr" not in sealed
    rotated = SecretBox((new, old))
    assert rotated.open(sealed, "AKIAOLD") == "wJalrXUtnFEMI/K7MDENG"
    with pytest.raises(DecryptionError):
        rotated.open(sealed, "AKIAOTHER")  # moved to another row
    with pytest.raises(DecryptionError):
        SecretBox((new,)).open(sealed, "AKIAOLD")  # key no longer in the ring
    assert rotated.seal("s", "a").split(".")[1] != sealed.split(".")[1]
