"""ES256 malleability: a session token whose signature is the high-S twin (r, n - s) of a valid one,
or whose signature segment is spelled with its spare base64url bits set, verifies under ECDSA but
is refused everywhere the broker reads tokens, with the error a forged signature gets. The
broker's own tokens are always low-S."""

from __future__ import annotations

import base64
import email.message
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import select

from broker.client import BrokerClient, InvalidTokenError
from broker.client import transport as client_transport
from broker.crypto.es256 import HALF_ORDER, P256_ORDER, canonical_token, has_canonical_signature, is_low_s
from broker.crypto.keys import TokenKeyRing, load_keys
from broker.crypto.tokens import InvalidSessionToken, SessionClaims, decode_session_token, encode_session_token
from broker.iam.errors import AwsError
from broker.services.auth.authentication import session_claims
from broker.services.runtime import Runtime
from broker.services.setup import bootstrap_admin
from broker.store import models
from tests.support.aws import client, running_broker

ISSUER = "https://broker.example"
INVALID = "The security token included in the request is invalid."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def s_of(token: str) -> int:
    return int.from_bytes(_unb64(token.rpartition(".")[2])[32:], "big")


def high_s_twin(token: str) -> str:
    """The same token with s replaced by n - s: what an attacker holding the token can write."""
    head, _, segment = token.rpartition(".")
    raw = _unb64(segment)
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{_b64(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


def ecdsa_verifies(token: str, keys: TokenKeyRing) -> bool:
    """Whether the token's signature verifies under plain ECDSA (no low-S rule)."""
    head, _, segment = token.rpartition(".")
    raw = _unb64(segment)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        keys.current.public_key.verify(der, head.encode(), ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


def claims(token_id: str = "tok-1") -> SessionClaims:  # noqa: S107  (a token id, not a password)
    now = int(time.time())
    return SessionClaims(
        token_id=token_id,
        access_key_id="ASIAZ2Z3Z4Z5Z6Z7ABCD",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/Dev",
        role_name="Dev",
        role_id="AROAZ2Z3Z4Z5Z6Z7ABCDE",
        session_name="alice",
        assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Dev/alice",
        issued_at=now,
        expires_at=now + 3600,
    )


@pytest.fixture(scope="module")
def ring(keys_dir: Path) -> TokenKeyRing:
    return load_keys(keys_dir).token_keys


def issued_high_s_token(ring: TokenKeyRing) -> str:
    """A broker token whose twin is high-S (every token is low-S, so the twin of any one is)."""
    token = encode_session_token(claims(), ring, ISSUER)
    twin = high_s_twin(token)
    assert s_of(twin) > HALF_ORDER
    return twin


def test_broker_tokens_are_low_s_over_many_samples(ring: TokenKeyRing) -> None:
    # Without normalisation about half of ECDSA signatures are high-S: 300 low-S ones in a row
    # would happen by chance with probability 2**-300.
    tokens = [encode_session_token(claims(f"tok-{n}"), ring, ISSUER) for n in range(300)]
    assert all(0 < s_of(token) <= HALF_ORDER for token in tokens)
    assert all(has_canonical_signature(token) for token in tokens)
    assert all(decode_session_token(token, ring, ISSUER).token_id == f"tok-{n}" for n, token in enumerate(tokens))


def test_high_s_twin_verifies_under_ecdsa_but_is_refused(ring: TokenKeyRing) -> None:
    token = encode_session_token(claims(), ring, ISSUER)
    twin = high_s_twin(token)
    assert twin != token
    assert ecdsa_verifies(token, ring) and ecdsa_verifies(twin, ring)  # the attack is real
    with pytest.raises(InvalidSessionToken) as refused:
        decode_session_token(twin, ring, ISSUER)
    forged = token.rpartition(".")[0] + "." + _b64(b"\x01" * 64)  # low-S, but not the key's signature
    with pytest.raises(InvalidSessionToken) as bad_signature:
        decode_session_token(forged, ring, ISSUER)
    assert str(refused.value) == str(bad_signature.value) == INVALID


def test_spare_base64url_bits_are_refused(ring: TokenKeyRing) -> None:
    # 64 bytes take 86 base64url characters, the last carrying 2 data bits and 4 spare ones:
    # another last character can decode to the very same signature. PyJWT 2.15 refuses these
    # spellings as well; the broker's own check does not rely on it.
    token = encode_session_token(claims(), ring, ISSUER)
    head, _, segment = token.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = [c for c in alphabet if c != segment[-1] and _unb64(segment[:-1] + c) == _unb64(segment)]
    assert same_bytes, "the last character has spare bits"
    respelled = f"{head}.{segment[:-1]}{same_bytes[0]}"
    assert ecdsa_verifies(respelled, ring)
    for variant in (respelled, f"{head}.{segment}=", f"{head}.{segment[:40]}\n{segment[40:]}"):
        with pytest.raises(InvalidSessionToken, match=INVALID):
            decode_session_token(variant, ring, ISSUER)


def test_canonical_token_normalises_only_high_s(ring: TokenKeyRing) -> None:
    token = encode_session_token(claims(), ring, ISSUER)
    assert canonical_token(token) == token
    assert canonical_token(high_s_twin(token)) == token
    r = bytes(31) + b"\x07"
    assert is_low_s(r + HALF_ORDER.to_bytes(32, "big"))
    assert not is_low_s(r + (HALF_ORDER + 1).to_bytes(32, "big"))
    assert not is_low_s(bytes(64))  # s = 0
    assert not is_low_s(r + bytes(31))  # not 64 bytes
    with pytest.raises(ValueError, match="not a compact JWS"):
        canonical_token("not-a-jws")


def test_session_claims_refuses_the_twin_after_the_original_was_remembered(runtime: Runtime) -> None:
    # The broker remembers a verified token by the SHA-256 of its text: the twin is another text.
    ring = runtime.keys.token_keys
    token = encode_session_token(claims(), ring, runtime.settings.base_url)
    assert session_claims(runtime, token).token_id == "tok-1"
    with pytest.raises(AwsError) as refused:
        session_claims(runtime, high_s_twin(token))
    assert (refused.value.code, refused.value.message) == ("InvalidClientTokenId", INVALID)


def test_client_library_refuses_the_twin(ring: TokenKeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    def serve_jwks(method: str, url: str, *_args: Any, **_kwargs: Any) -> client_transport.HttpResponse:
        assert url.endswith("/.well-known/jwks.json")
        return client_transport.HttpResponse(200, email.message.Message(), json.dumps(ring.jwks()).encode())

    monkeypatch.setattr(client_transport, "send", serve_jwks)
    verifier = BrokerClient(ISSUER)
    token = encode_session_token(claims(), ring, ISSUER)
    assert verifier.verify_session_token(token).session_name == "alice"
    with pytest.raises(InvalidTokenError) as refused:
        verifier.verify_session_token(high_s_twin(token))
    with pytest.raises(InvalidTokenError) as forged:
        verifier.verify_session_token(token.rpartition(".")[0] + "." + _b64(b"\x01" * 64))
    assert str(refused.value) == str(forged.value) == "the token's signature does not verify"


def test_twin_session_token_is_refused_over_the_wire_and_audited(tmp_path: Path, keys_dir: Path) -> None:
    with running_broker(tmp_path, keys_dir, "sqlite") as broker:
        admin = bootstrap_admin(broker.runtime)
        sts = client(broker, "sts", admin.access_key_id, admin.secret_access_key)
        session = sts.get_session_token()["Credentials"]
        key, secret, token = session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"]
        assert client(broker, "sts", key, secret, token).get_caller_identity()["Arn"].endswith(":user/admin")
        twin = high_s_twin(token)
        assert ecdsa_verifies(twin, broker.runtime.keys.token_keys)
        with pytest.raises(ClientError) as refused:
            client(broker, "sts", key, secret, twin).get_caller_identity()
        error = refused.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("InvalidClientTokenId", INVALID)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with broker.runtime.db.read() as tx:
            codes = tx.scalars(
                select(models.AuditEvent.error_code).where(models.AuditEvent.event_name == "GetCallerIdentity")
            ).all()
        assert sorted(codes, key=str) == sorted([None, "InvalidClientTokenId"], key=str)
