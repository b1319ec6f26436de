"""BrokerClient against a live broker: local token verification through the JWKS, rotation, decisions."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives.asymmetric import ec
from flask import request

from broker.client import (
    BrokerClient,
    DecisionRequestError,
    ExpiredTokenError,
    InvalidTokenError,
    JwksError,
    SigningUnavailableError,
    TransportError,
    VerifiedSession,
)
from broker.client.client import _CLAIMS_KEPT
from broker.crypto.keys import load_keys, rotate_token_keys
from broker.crypto.tokens import AUDIENCE, TOKEN_TYPE, SessionClaims
from broker.services.credentials import TemporaryCredentials, issue_role_credentials
from broker.services.iam import principals, roles
from broker.services.runtime import Runtime
from broker.services.setup import bootstrap_admin
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "arn:aws:iam::123456789012:saml-provider/okta"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithSAML"}],
    }
)
ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Reports", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}
        ],
    }
)


@dataclass
class Served:
    broker: LiveBroker
    jwks_hits: list[str]

    @property
    def runtime(self) -> Runtime:
        return self.broker.runtime

    @property
    def url(self) -> str:
        return self.broker.url


@pytest.fixture
def served(tmp_path: Path, keys_dir: Path, sqlite_url: str) -> Iterator[Served]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, sqlite_url, f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        hits: list[str] = []

        @live.app.before_request
        def _count_jwks_requests() -> None:
            if request.path == "/.well-known/jwks.json":
                hits.append(request.path)

        yield Served(live, hits)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_role(runtime: Runtime, name: str = "Analysts") -> None:
    account = runtime.settings.default_account_id
    with runtime.db.transaction() as session:
        roles.create_role(
            session,
            account,
            name=name,
            trust_policy=TRUST,
            path=None,
            description=None,
            max_session_duration=None,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )
        principals.put_inline(session, "Role", account, name, "reports", ROLE_POLICY)


def sign_in(runtime: Runtime, name: str = "Analysts", session_name: str = "alice") -> TemporaryCredentials:
    account = runtime.settings.default_account_id
    with runtime.db.transaction() as session:
        role = roles.get_role(session, account, name)
        return issue_role_credentials(
            runtime,
            role,
            session_name=session_name,
            duration_seconds=3600,
            auth_type="saml",
            provider_arn=PROVIDER,
            source_identity="alice@example.com",
            session_tags={"team": "blue", "cost-center": "42"},
            transitive_tag_keys=("team",),
            mfa=True,
            mfa_auth_time=int(runtime.now().timestamp()) - 60,
            federated={"saml:sub": "alice"},
        )


@pytest.fixture
def credentials(served: Served) -> TemporaryCredentials:
    make_role(served.runtime)
    return sign_in(served.runtime)


def forge(token: str, **changes: object) -> str:
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    forged = jwt.api_jws.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{forged}.{signature}"


# --- Verifying session tokens ---------------------------------------------------------------


def test_verify_returns_the_session(served: Served, credentials: TemporaryCredentials) -> None:
    client = BrokerClient(served.url)
    session = client.verify_session_token(credentials.session_token)
    claims = credentials.claims
    assert session == VerifiedSession(
        assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Analysts/alice",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/Analysts",
        role_name="Analysts",
        role_id=claims.role_id,
        session_name="alice",
        access_key_id=credentials.access_key_id,
        token_id=claims.token_id,
        issued_at=session.issued_at,
        expires_at=credentials.expiration,
        auth_type="saml",
        key_id=served.runtime.keys.token_keys.current.kid,
        provider_arn=PROVIDER,
        source_identity="alice@example.com",
        session_tags={"team": "blue", "cost-center": "42"},
        transitive_tag_keys=("team",),
        mfa=True,
        mfa_authenticated_at=session.mfa_authenticated_at,
        saml_context={"saml:sub": "alice"},
    )
    assert session.issued_at.timestamp() == claims.issued_at
    assert session.mfa_authenticated_at is not None
    assert session.mfa_authenticated_at.timestamp() == claims.mfa_auth_time
    assert session.user_id == f"{claims.role_id}:alice"


def test_the_session_keeps_the_claims_it_shares_with_the_broker_as_they_are() -> None:
    # VerifiedSession copies these SessionClaims fields by name: they must keep one type.
    verified = {f.name: f.type for f in fields(VerifiedSession)}
    claims = {f.name: f.type for f in fields(SessionClaims)}
    assert {name: verified[name] for name in _CLAIMS_KEPT} == {name: claims[name] for name in _CLAIMS_KEPT}


def test_jwks_is_fetched_once_and_cached(served: Served, credentials: TemporaryCredentials) -> None:
    clock = Clock()
    client = BrokerClient(served.url, jwks_ttl=300, clock=clock)
    other = sign_in(served.runtime, session_name="bob")
    for _ in range(5):
        client.verify_session_token(credentials.session_token)
        client.verify_session_token(other.session_token)
    assert len(served.jwks_hits) == client.jwks_fetches == 1
    clock.now += 301
    client.verify_session_token(credentials.session_token)
    assert len(served.jwks_hits) == 2


def test_key_rotation(served: Served, credentials: TemporaryCredentials) -> None:
    runtime = served.runtime
    certs = runtime.settings.certs_dir
    clock = Clock()
    client = BrokerClient(served.url, jwks_ttl=300, jwks_min_refresh_interval=60, clock=clock)
    before = credentials.session_token
    client.verify_session_token(before)
    assert len(served.jwks_hits) == 1

    def rotate() -> None:
        # What an operator does: rotate the ring on disk, restart (here: reload) the broker.
        rotate_token_keys(certs)
        runtime.keys = load_keys(certs)

    # First rotation: the new signing key was pre-published as "next", so the cached JWKS
    # already holds it; the old key stays published as "previous".
    rotate()
    after_one = sign_in(runtime, session_name="one").session_token
    assert jwt.get_unverified_header(after_one)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert client.verify_session_token(after_one).session_name == "one"
    assert client.verify_session_token(before).session_name == "alice"
    assert len(served.jwks_hits) == 1

    # Second rotation: the signing key is one the client has never seen. One refresh finds it
    # (refreshes are at most once a minute here; the last was the first fetch).
    rotate()
    after_two = sign_in(runtime, session_name="two").session_token
    clock.now += 60
    assert client.verify_session_token(after_two).session_name == "two"
    assert len(served.jwks_hits) == 2
    # The first key is no longer published: its tokens fail, and neither they nor made-up
    # kids make the client fetch again within the interval.
    with pytest.raises(InvalidTokenError, match="does not publish"):
        client.verify_session_token(before)
    unknown_key = ec.generate_private_key(ec.SECP256R1())
    for n in range(5):
        forged = jwt.encode(
            {"sub": "x"}, unknown_key, algorithm="ES256", headers={"kid": f"made-up-{n}", "typ": TOKEN_TYPE}
        )
        with pytest.raises(InvalidTokenError):
            client.verify_session_token(forged)
        clock.now += 10
    assert len(served.jwks_hits) == 2
    clock.now += 10  # a minute after the last fetch
    with pytest.raises(InvalidTokenError):
        client.verify_session_token(before)
    assert len(served.jwks_hits) == 3
    # The broker agrees: the old token is refused, the new one answered.
    with pytest.raises(DecisionRequestError) as refused:
        client.decide("s3:GetObject", "arn:aws:s3:::reports/a", bearer_token=before)
    assert (refused.value.status, refused.value.code) == (401, "InvalidClientTokenId")
    assert client.decide("s3:GetObject", "arn:aws:s3:::reports/a", bearer_token=after_two).allowed


def test_tampered_and_foreign_tokens_are_rejected_locally(served: Served, credentials: TemporaryCredentials) -> None:
    client = BrokerClient(served.url)
    token = credentials.session_token
    client.verify_session_token(token)
    header, payload, signature = token.split(".")
    kid = jwt.get_unverified_header(token)["kid"]
    signing_key = served.runtime.keys.token_keys.current.private_key
    base_claims = jwt.decode(token, options={"verify_signature": False})
    stranger = ec.generate_private_key(ec.SECP256R1())
    headers = {"kid": kid, "typ": TOKEN_TYPE}
    rejected = {
        "forged role": forge(token, sub="arn:aws:sts::123456789012:assumed-role/Admins/alice"),
        "forged tags": forge(token, tags={"team": "admins"}),
        "flipped signature": f"{header}.{payload}.{signature[::-1]}",
        "no signature": f"{header}.{payload}.",
        "other key, real kid": jwt.encode(base_claims, stranger, algorithm="ES256", headers=headers),
        "alg none": jwt.encode(base_claims, None, algorithm="none", headers=headers),
        "HS256": jwt.encode(base_claims, "k" * 32, algorithm="HS256", headers=headers),
        "wrong audience": jwt.encode({**base_claims, "aud": "urn:other"}, signing_key, "ES256", headers=headers),
        "wrong issuer": jwt.encode(
            {**base_claims, "iss": "https://evil.example"}, signing_key, "ES256", headers=headers
        ),
        "wrong typ": jwt.encode(base_claims, signing_key, "ES256", headers={"kid": kid, "typ": "JWT"}),
        "no kid": jwt.encode(base_claims, signing_key, "ES256", headers={"typ": TOKEN_TYPE}),
        "missing claim": jwt.encode(
            {k: v for k, v in base_claims.items() if k != "akid"}, signing_key, "ES256", headers=headers
        ),
        "bad tags": jwt.encode({**base_claims, "tags": ["team"]}, signing_key, "ES256", headers=headers),
        "garbage": "not.a.jwt",
        "empty": "",
    }
    for name, forged in rejected.items():
        try:
            client.verify_session_token(forged)
        except InvalidTokenError:
            continue
        pytest.fail(f"{name}: accepted")
    assert len(served.jwks_hits) == 1  # all refused with the cached key

    # The issuer is the broker's configured base_url, whatever address the client uses.
    elsewhere = BrokerClient(served.url, issuer="https://broker.example.com")
    with pytest.raises(InvalidTokenError, match="another broker"):
        elsewhere.verify_session_token(token)


def test_token_times(served: Served, credentials: TemporaryCredentials) -> None:
    clock = Clock()
    client = BrokerClient(served.url, clock=clock)
    token = credentials.session_token
    expires = credentials.claims.expires_at
    clock.now = expires - 1
    assert client.verify_session_token(token)
    clock.now = expires
    with pytest.raises(ExpiredTokenError):
        client.verify_session_token(token)
    assert BrokerClient(served.url, clock=lambda: expires + 5, leeway=10).verify_session_token(token)
    # A token from a broker whose clock runs ahead is tolerated for 5 minutes, no more.
    issued = credentials.claims.issued_at
    clock.now = issued - 299
    assert client.verify_session_token(token)
    clock.now = issued - 301
    with pytest.raises(InvalidTokenError, match="not valid yet"):
        client.verify_session_token(token)


def test_unreachable_broker() -> None:
    client = BrokerClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"sub": "x"}, key, algorithm="ES256", headers={"kid": "k", "typ": TOKEN_TYPE})
    with pytest.raises(JwksError, match=r"127\.0\.0\.1"):
        client.verify_session_token(token)
    with pytest.raises(TransportError):
        client.decide("s3:GetObject", "*", bearer_token="token")


def test_a_hostile_jwks_answer_is_a_jwks_error(tmp_path: Path) -> None:
    # Every error the client raises is a BrokerClientError: a JWKS nested past the JSON parser
    # raised RecursionError, a 500 in the service that called verify_session_token.
    class Nested(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[" * 100_000
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Nested)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = BrokerClient(f"http://127.0.0.1:{server.server_port}", timeout=2)
        key = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode({"sub": "x"}, key, algorithm="ES256", headers={"kid": "k", "typ": TOKEN_TYPE})
        with pytest.raises(JwksError, match="did not answer JSON"):
            client.verify_session_token(token)
    finally:
        server.shutdown()
        server.server_close()


# --- Decisions ------------------------------------------------------------------------------


def test_decide_with_credentials_or_bearer(served: Served, credentials: TemporaryCredentials) -> None:
    admin = bootstrap_admin(served.runtime)
    client = BrokerClient(served.url, region="eu-central-1")

    by_admin = client.decide(
        "iam:CreateUser",
        "arn:aws:iam::123456789012:user/eve",
        credentials=(admin.access_key_id, admin.secret_access_key),
    )
    assert by_admin.allowed and by_admin.decision == "Allow"
    assert by_admin.principal.type == "IAMUser" and by_admin.principal.arn.endswith(":user/admin")
    assert by_admin.matched_statements[0].policy_id.endswith(":AdministratorAccess")

    # Temporary credentials sign too, as a tuple or as botocore's Credentials.
    as_tuple = (credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
    as_object = Credentials(*as_tuple)
    for signer in (as_tuple, as_object):
        result = client.decide("s3:GetObject", "arn:aws:s3:::reports/q3.pdf", credentials=signer)
        assert result.allowed
        assert result.principal.arn == "arn:aws:sts::123456789012:assumed-role/Analysts/alice"
        assert [m.sid for m in result.matched_statements] == ["Reports"]

    denied = client.decide(
        "s3:PutObject",
        "arn:aws:s3:::reports/q3.pdf",
        {"aws:SourceIp": "10.0.0.1"},
        bearer_token=credentials.session_token,
    )
    assert (denied.allowed, denied.decision) == (False, "ImplicitDeny")
    assert denied.reasons == ("no identity-based policy allows s3:PutObject on arn:aws:s3:::reports/q3.pdf",)
    assert denied.principal.type == "AssumedRole"

    batch = client.decide_batch(
        [
            ("s3:GetObject", "arn:aws:s3:::reports/a"),
            ("s3:GetObject", "arn:aws:s3:::private/a", {"aws:SourceIp": "10.0.0.1"}),
        ],
        bearer_token=credentials.session_token,
    )
    assert [r.decision for r in batch] == ["Allow", "ImplicitDeny"]
    assert batch[0].principal == batch[1].principal

    with pytest.raises(DecisionRequestError) as protected:
        client.decide("s3:GetObject", "*", {"aws:PrincipalTag/team": "admins"}, bearer_token=credentials.session_token)
    assert (protected.value.status, protected.value.code) == (400, "ProtectedContextKey")
    assert protected.value.request_id
    with pytest.raises(DecisionRequestError) as bad_secret:
        client.decide("s3:GetObject", "*", credentials=(admin.access_key_id, "x" * 40))
    assert (bad_secret.value.status, bad_secret.value.code) == (401, "SignatureDoesNotMatch")
    with pytest.raises(ValueError, match="exactly one"):
        client.decide("s3:GetObject", "*")
    with pytest.raises(ValueError, match="exactly one"):
        client.decide("s3:GetObject", "*", credentials=as_tuple, bearer_token=credentials.session_token)


def test_signing_needs_botocore(
    served: Served, credentials: TemporaryCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "botocore.auth", None)  # as if botocore were not installed
    client = BrokerClient(served.url)
    with pytest.raises(SigningUnavailableError, match="botocore"):
        client.decide("s3:GetObject", "*", credentials=("AKIAEXAMPLE", "secret"))
    assert client.decide("s3:GetObject", "arn:aws:s3:::reports/a", bearer_token=credentials.session_token).allowed


def test_base_url_rules() -> None:
    with pytest.raises(ValueError, match="https"):
        BrokerClient("http://broker.example.com")
    assert (
        BrokerClient("http://broker.internal:8000", allow_insecure_http=True).base_url == "http://broker.internal:8000"
    )
    assert BrokerClient("https://broker.example.com/").issuer == "https://broker.example.com"
    assert BrokerClient("http://localhost:8000").base_url == "http://localhost:8000"
    for bad in ("ftp://broker.example.com", "broker.example.com", "https://"):
        with pytest.raises(ValueError, match="absolute"):
            BrokerClient(bad)


def test_redirects_are_not_followed() -> None:
    """A redirect must not carry the bearer token (or a signature) to another server."""
    received: list[str | None] = []

    class Target(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            self.do_POST()

        def log_message(self, *args: object) -> None:
            pass

    target = ThreadingHTTPServer(("127.0.0.1", 0), Target)

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{target.server_port}/v1/decisions")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    redirect = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    servers = [target, redirect]
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        client = BrokerClient(f"http://127.0.0.1:{redirect.server_port}")
        with pytest.raises(DecisionRequestError) as refused:
            client.decide("s3:GetObject", "*", bearer_token="secret-session-token")
        assert refused.value.status == 302
        assert received == []
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_the_client_imports_no_server_stack() -> None:
    code = (
        "import sys, broker.client\n"
        "server = {'flask', 'werkzeug', 'sqlalchemy', 'saml2', 'botocore'}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & server)\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert AUDIENCE == "urn:broker:sts"
