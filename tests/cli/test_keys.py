"""`broker keys`: token key rotation and retirement, SP certificate rollover, all through the CLI
against a live broker whose clock the test moves; every step audited."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import jwt
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from sqlalchemy import select

from broker.cli.main import cli
from broker.client import BrokerClient, InvalidTokenError
from broker.crypto.keys import read_token_ring
from broker.crypto.tokens import InvalidSessionToken, decode_session_token
from broker.services.credentials import TemporaryCredentials
from broker.services.federation.providers import acs_policy
from broker.services.keys import TOKEN_LIFETIME_MAX
from broker.services.runtime import Runtime
from broker.store.models import AuditEvent
from tests.cli.conftest import cli_runtimes_on
from tests.client.test_client import make_role, sign_in
from tests.support.aws import client
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
ROLLOVER = 2 * 86400


class MovableClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def broker(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(
        tmp_path, keys_dir, sqlite_url, f"http://127.0.0.1:{port}", sp_key_rollover_seconds=ROLLOVER
    )
    runtime = make_runtime(settings)
    runtime.clock = clock
    cli_runtimes_on(clock, monkeypatch)
    with LiveBroker(runtime, port) as live:
        yield live


def keys_cli(broker: LiveBroker, *args: str) -> Result:
    settings = broker.runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    env |= {
        "BROKER_DATABASE_URL": settings.database_url,
        "BROKER_CERTS_DIR": settings.certs_dir,
        "BROKER_METADATA_DIR": settings.metadata_dir,
        "BROKER_BASE_URL": settings.base_url,
        "BROKER_SP_KEY_ROLLOVER_SECONDS": str(settings.sp_key_rollover_seconds),
    }
    return CliRunner().invoke(cli, ["keys", *args], env=env)


def picked_up(broker: LiveBroker) -> None:
    """What the broker does on a request once key_reload_interval_seconds has passed."""
    broker.runtime.reload_keys_if_changed()


def jwks_kids(broker: LiveBroker) -> set[str]:
    with urllib.request.urlopen(f"{broker.url}/.well-known/jwks.json") as response:
        return {key["kid"] for key in json.load(response)["keys"]}


def audit_events(runtime: Runtime, name: str) -> list[dict[str, Any]]:
    with runtime.db.transaction() as tx:
        rows = tx.scalars(select(AuditEvent.record).where(AuditEvent.event_name == name)).all()
    return [row if isinstance(row, dict) else json.loads(row) for row in rows]


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def verifies_on_broker(runtime: Runtime, token: str) -> bool:
    try:
        decode_session_token(token, runtime.keys.token_keys, runtime.settings.base_url, now=runtime.now().timestamp())
    except InvalidSessionToken:
        return False
    return True


def calls_with(broker: LiveBroker, credentials: TemporaryCredentials) -> str:
    """GetCallerIdentity through the running broker: the session name, or the error's code."""
    sts = client(broker, "sts", credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
    try:
        return str(sts.get_caller_identity()["Arn"]).rsplit("/", 1)[1]
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])


def test_rotate_publishes_before_signing_and_old_tokens_verify_until_retired(broker: LiveBroker) -> None:
    runtime = broker.runtime
    make_role(runtime)
    ring = read_token_ring(runtime.settings.certs_dir)
    signed_in_before = sign_in(runtime, session_name="before")
    before = signed_in_before.session_token
    assert kid(before) == ring.current
    # The broker verifies the token once and remembers it: the retirement must undo that too.
    assert calls_with(broker, signed_in_before) == "before"
    # The key that signs after the rotation is already published before it.
    assert ring.next is not None and ring.next in jwks_kids(broker)
    client = BrokerClient(broker.url, jwks_ttl=3600)
    assert client.verify_session_token(before).session_name == "before"

    result = keys_cli(broker, "rotate", "--tokens")
    assert result.exit_code == 0, result.output
    picked_up(broker)
    after = sign_in(runtime, session_name="after").session_token
    assert kid(after) == ring.next
    # The client's cached JWKS (fetched before the rotation) verifies the new token without a refetch.
    assert client.verify_session_token(after).session_name == "after"
    assert client.jwks_fetches == 1
    assert client.verify_session_token(before).session_name == "before"
    assert verifies_on_broker(runtime, before)
    rotated = read_token_ring(runtime.settings.certs_dir)
    assert (rotated.previous, rotated.current) == (ring.current, ring.next)
    assert rotated.next is not None and rotated.next not in (ring.current, ring.next)
    assert jwks_kids(broker) == {ring.current, ring.next, rotated.next}

    # Too early: a token the previous key signed may still be valid.
    refused = keys_cli(broker, "rotate", "--tokens", "--retire")
    assert refused.exit_code == 1
    assert f"tokens signed by the previous key {ring.current} may be valid until" in refused.output
    assert "Traceback" not in refused.output
    # Rotating again would drop the previous key: refused as well.
    again = keys_cli(broker, "rotate", "--tokens")
    assert again.exit_code == 1 and "would drop the previous key" in again.output
    assert read_token_ring(runtime.settings.certs_dir) == rotated

    # --force retires at once: the old key's unexpired token stops verifying everywhere.
    forced = keys_cli(broker, "rotate", "--tokens", "--retire", "--force")
    assert forced.exit_code == 0, forced.output
    picked_up(broker)
    assert ring.current not in jwks_kids(broker)
    assert not (Path(runtime.settings.certs_dir) / f"token-{ring.current}.pem").exists()
    assert not verifies_on_broker(runtime, before)
    assert verifies_on_broker(runtime, after)
    assert calls_with(broker, signed_in_before) == "InvalidClientTokenId"
    fresh = BrokerClient(broker.url)
    with pytest.raises(InvalidTokenError, match="does not publish"):
        fresh.verify_session_token(before)
    assert fresh.verify_session_token(after).session_name == "after"

    rotations = audit_events(runtime, "RotateTokenSigningKey")
    assert [r.get("errorCode") for r in rotations] == [None, "KeyRotationRefused"]
    assert rotations[0]["responseElements"]["current"] == ring.next
    retirements = audit_events(runtime, "RetireTokenSigningKey")
    assert [r.get("errorCode") for r in retirements] == ["KeyRotationRefused", None]
    assert retirements[1]["responseElements"] == {"retired": ring.current}
    assert retirements[1]["userIdentity"]["principalId"] == "broker-cli"


def test_retire_is_allowed_once_the_longest_session_has_expired(broker: LiveBroker, clock: MovableClock) -> None:
    runtime = broker.runtime
    assert keys_cli(broker, "rotate", "--tokens").exit_code == 0
    previous = read_token_ring(runtime.settings.certs_dir).previous
    clock.now += TOKEN_LIFETIME_MAX  # the reload interval is still to run
    status = keys_cli(broker, "status")
    assert status.exit_code == 0 and f"previous  {previous}  verifies; retire allowed from" in status.output
    assert keys_cli(broker, "rotate", "--tokens", "--retire").exit_code == 1
    clock.now += dt.timedelta(seconds=runtime.settings.key_reload_interval_seconds)
    result = keys_cli(broker, "rotate", "--tokens", "--retire")
    assert result.exit_code == 0, result.output
    assert f"retired token signing key {previous}" in result.output
    assert read_token_ring(runtime.settings.certs_dir).previous is None
    nothing = keys_cli(broker, "rotate", "--tokens", "--retire")
    assert nothing.exit_code == 1 and "no previous token signing key" in nothing.output


def test_a_broker_notices_rotated_files_at_most_once_per_interval(
    broker: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = broker.runtime
    ticks = [0.0]
    monkeypatch.setattr("broker.services.runtime.time.monotonic", lambda: ticks[0])
    runtime.reload_keys_if_changed()  # looked at tick 0
    signing = runtime.keys.token_keys.current.kid
    assert keys_cli(broker, "rotate", "--tokens").exit_code == 0
    ticks[0] = runtime.settings.key_reload_interval_seconds - 0.5
    assert runtime.keys.token_keys.current.kid == signing  # not looked again yet
    ticks[0] = runtime.settings.key_reload_interval_seconds
    assert runtime.keys.token_keys.current.kid == read_token_ring(runtime.settings.certs_dir).current != signing


def test_half_written_key_files_leave_the_loaded_keys_in_place(broker: LiveBroker) -> None:
    runtime = broker.runtime
    signing = runtime.keys.token_keys.current.kid
    index = Path(runtime.settings.certs_dir) / "token-keys.json"
    index.write_text('{"current": ')
    picked_up(broker)
    assert runtime.keys.token_keys.current.kid == signing
    status = keys_cli(broker, "status")
    assert status.exit_code == 1 and "token-keys.json: not a token key ring" in status.output


def sp_metadata_certificates(broker: LiveBroker) -> dict[str, list[str]]:
    with urllib.request.urlopen(f"{broker.url}/saml/metadata") as response:
        root = etree.fromstring(response.read())
    found: dict[str, list[str]] = {"signing": [], "encryption": []}
    for descriptor in root.iter(f"{{{MD}}}KeyDescriptor"):
        text = descriptor.findtext(f".//{{{DS}}}X509Certificate") or ""
        found[descriptor.get("use", "")].append("".join(text.split()))
    return found


def der_b64(pem: bytes) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return base64.b64encode(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)).decode()


def signed_by(url: str, cert_pem: bytes) -> bool:
    """Whether the HTTP-Redirect AuthnRequest in ``url`` is signed by the key of ``cert_pem``."""
    query = url.split("?", 1)[1]
    signed_part, signature = query.split("&Signature=")
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(unquote(signature)), signed_part.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return dict(parse_qsl(query))["SigAlg"].endswith("rsa-sha256")


def test_sp_certificate_rollover(broker: LiveBroker, clock: MovableClock) -> None:
    runtime = broker.runtime
    certs = Path(runtime.settings.certs_dir)
    old_signing, old_encryption = (certs / "sp-signing.crt").read_bytes(), (certs / "sp-encryption.crt").read_bytes()
    assert sp_metadata_certificates(broker) == {
        "signing": [der_b64(old_signing)],
        "encryption": [der_b64(old_encryption)],
    }

    result = keys_cli(broker, "rotate", "--sp-certificate")
    assert result.exit_code == 0, result.output
    new_signing = (certs / "sp-signing-next.crt").read_bytes()
    new_encryption = (certs / "sp-encryption-next.crt").read_bytes()
    assert oct((certs / "sp-signing-next.key").stat().st_mode & 0o777) == "0o600"
    picked_up(broker)
    # Both certificates of each use are in the metadata IdPs fetch.
    assert sp_metadata_certificates(broker) == {
        "signing": [der_b64(old_signing), der_b64(new_signing)],
        "encryption": [der_b64(old_encryption), der_b64(new_encryption)],
    }
    # An IdP that already encrypts to the new certificate is decrypted.
    assert acs_policy(runtime).decryption_keys == (
        (certs / "sp-encryption.key").read_bytes(),
        (certs / "sp-encryption-next.key").read_bytes(),
    )
    # AuthnRequests keep the old key until the delay has passed, then switch.
    destination = "https://idp.example.com/sso"
    clock.now += dt.timedelta(seconds=ROLLOVER - 1)
    early = runtime.sp.authn_request(destination, now=clock.now).url
    assert signed_by(early, old_signing) and not signed_by(early, new_signing)
    again = keys_cli(broker, "rotate", "--sp-certificate")
    assert again.exit_code == 1 and "rollover staged at" in again.output
    too_early = keys_cli(broker, "rotate", "--sp-certificate", "--finish")
    assert too_early.exit_code == 1 and "IdPs may not have the new SP certificate before" in too_early.output
    clock.now += dt.timedelta(seconds=1)
    late = runtime.sp.authn_request(destination, now=clock.now).url
    assert signed_by(late, new_signing) and not signed_by(late, old_signing)

    finished = keys_cli(broker, "rotate", "--sp-certificate", "--finish")
    assert finished.exit_code == 0, finished.output
    picked_up(broker)
    assert sp_metadata_certificates(broker) == {
        "signing": [der_b64(new_signing)],
        "encryption": [der_b64(new_encryption)],
    }
    assert signed_by(runtime.sp.authn_request(destination, now=clock.now).url, new_signing)
    assert not list(certs.glob("sp-*-next.*")) and not (certs / "sp-rollover.json").exists()
    nothing = keys_cli(broker, "rotate", "--sp-certificate", "--finish")
    assert nothing.exit_code == 1 and "no SP certificate rollover is in progress" in nothing.output

    staged = audit_events(runtime, "StageSpCertificate")
    assert [r.get("errorCode") for r in staged] == [None, "KeyRotationRefused"]
    assert staged[0]["responseElements"]["switchAt"].startswith(str((clock.now - dt.timedelta(seconds=ROLLOVER)).year))
    finishes = audit_events(runtime, "FinishSpCertificateRollover")
    assert [r.get("errorCode") for r in finishes] == ["KeyRotationRefused", None, "KeyRotationRefused"]
    assert "PRIVATE KEY" not in json.dumps([*staged, *finishes])


def test_rotate_needs_exactly_one_kind(broker: LiveBroker) -> None:
    for args, message in (
        ((), "choose one of --tokens, --sp-certificate, --encryption"),
        (("--tokens", "--sp-certificate"), "choose one of"),
        (("--sp-certificate", "--retire"), "--retire goes with --tokens"),
        (("--tokens", "--finish"), "--finish goes with --sp-certificate"),
        (("--encryption", "--finish"), "--finish goes with --sp-certificate"),
    ):
        result = keys_cli(broker, "rotate", *args)
        assert result.exit_code == 1, args
        assert message in result.output and "Traceback" not in result.output
