"""The steady-state request path costs one SQL statement, and a change is seen at once anyway.

Counted, not timed: the statements a warm GetCallerIdentity and a warm decision send from the
request's own thread (the audit event is written by the process's audit writer, on its thread),
with an IAM user's long-term key, with temporary credentials, and with a bearer session token.
Then a change made through a second runtime on the same database (another broker process)
applies at the very next request of the first one: the cache has no time-to-live to wait out.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask.testing import FlaskClient

from broker.services.audit import AuditWriteFailed
from broker.services.iam import access_keys, inline, users
from broker.services.orgs import handshakes, structure
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.web.app import create_app
from tests.support.brokers import make_runtime, make_settings
from tests.support.statements import listening_to_drivers, request_statements

BASE_URL = "http://broker.test"
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
S3_READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DENY_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
QUERY = {"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf"}


@pytest.fixture(autouse=True)
def _driver_ears() -> Iterator[None]:
    with listening_to_drivers():
        yield


def sign(path: str, body: str, content_type: str, service: str, creds: Credentials) -> dict[str, str]:
    request = AWSRequest(method="POST", url=f"{BASE_URL}{path}", data=body, headers={"Content-Type": content_type})
    SigV4Auth(creds, service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def caller_identity(client: FlaskClient, creds: Credentials) -> Any:
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    response = client.post(
        "/", data=STS_BODY, headers=sign("/", STS_BODY, content_type, "sts", creds), base_url=BASE_URL
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def decision(client: FlaskClient, creds: Credentials | None = None, token: str | None = None) -> str:
    body = json.dumps(QUERY)
    if token is not None:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    else:
        assert creds is not None
        headers = sign("/v1/decisions", body, "application/json", "execute-api", creds)
    response = client.post("/v1/decisions", data=body, headers=headers, base_url=BASE_URL)
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["decision"])


@pytest.fixture
def runtimes(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes on one database: two broker processes, as far as caches are concerned."""
    settings = make_settings(tmp_path, keys_dir, database_url, BASE_URL)
    first, second = make_runtime(settings), make_runtime(settings)
    initialise(first)
    try:
        yield first, second
    finally:
        for runtime in (first, second):
            writer = runtime.__dict__.get("audit_writer")
            if writer is not None:
                writer.close()
            runtime.db.dispose()


def make_user(runtime: Runtime, account_id: str | None = None) -> Credentials:
    account = account_id or runtime.settings.default_account_id
    with runtime.db.transaction() as tx:
        user = users.create_user(tx, account, "reader", "/", runtime.now())
        inline.put_inline_policy(tx, user, "read", json.dumps(S3_READ))
        key, secret = access_keys.create_access_key(tx, user, runtime.box, runtime.now())
    return Credentials(key.access_key_id, secret)


def session_credentials(client: FlaskClient, creds: Credentials) -> Credentials:
    body = "Action=GetSessionToken&Version=2011-06-15"
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    response = client.post("/", data=body, headers=sign("/", body, content_type, "sts", creds), base_url=BASE_URL)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)

    def field(name: str) -> str:
        return text.split(f"<{name}>", 1)[1].split(f"</{name}>", 1)[0]

    return Credentials(field("AccessKeyId"), field("SecretAccessKey"), field("SessionToken"))


def trail_batch(seen: list[str]) -> tuple[list[str], list[str]]:
    """``seen`` apart: the request's own statements, and the audit trail's group-commit batch.

    A lone request leads the batch that writes its event (on its own thread), so both are heard
    here; the batch is told by the trail's tables, which nothing on a warm path reads otherwise.
    """
    trail = [s for s in seen if "audit_chain_head" in s or "audit_events" in s]
    return [s for s in seen if s not in trail], trail


def test_warm_requests_run_one_statement(runtimes: tuple[Runtime, Runtime]) -> None:
    runtime, _ = runtimes
    client = create_app(runtime=runtime).test_client()
    long_term = make_user(runtime)
    temporary = session_credentials(client, long_term)
    for creds in (long_term, temporary):
        for _ in range(2):  # warm up: the key's account, then the cache entries
            caller_identity(client, creds)
            assert decision(client, creds) == "Allow"
        before = runtime.audit_writer.stats()
        with request_statements() as seen:
            caller_identity(client, creds)
        own, trail = trail_batch(seen)
        assert len(own) == 1 and "FROM generations" in own[0], seen
        # Its event, in one batch: one move of the chain head.
        assert sum("UPDATE audit_chain_head" in s for s in trail) == 1, trail
        after = runtime.audit_writer.stats()
        assert (after.events - before.events, after.batches - before.batches) == (1, 1)
        with request_statements() as seen:
            assert decision(client, creds) == "Allow"
        assert len(seen) == 1 and "FROM generations" in seen[0], seen
    decision(client, token=temporary.token)
    with request_statements() as seen:
        assert decision(client, token=temporary.token) == "Allow"
    assert len(seen) == 1 and "FROM generations" in seen[0], seen


def test_a_change_through_another_process_applies_at_the_next_request(runtimes: tuple[Runtime, Runtime]) -> None:
    first, second = runtimes
    client = create_app(runtime=first).test_client()
    creds = make_user(first)
    temporary = session_credentials(client, creds)
    for _ in range(3):
        assert decision(client, creds) == "Allow"
        assert decision(client, token=temporary.token) == "Allow"
    account = first.settings.default_account_id
    with second.db.transaction() as tx:  # the other instance adds a Deny
        user = users.get_user(tx, account, "reader")
        inline.put_inline_policy(tx, user, "deny", json.dumps(DENY_S3))
    assert decision(client, creds) == "ExplicitDeny"
    assert decision(client, token=temporary.token) == "ExplicitDeny"
    with second.db.transaction() as tx:  # ...and deactivates the key
        access_keys.update_access_key(tx, account, "reader", creds.access_key, "Inactive")
    body = json.dumps(QUERY)
    headers = sign("/v1/decisions", body, "application/json", "execute-api", creds)
    assert client.post("/v1/decisions", data=body, headers=headers, base_url=BASE_URL).status_code == 401


def test_closing_the_account_through_another_process_refuses_at_the_next_request(
    runtimes: tuple[Runtime, Runtime],
) -> None:
    first, second = runtimes
    client = create_app(runtime=first).test_client()
    management = first.settings.default_account_id
    with second.db.transaction() as tx:
        structure.create_organization(tx, management, None, second.now())
        status = structure.create_account(
            tx,
            management,
            email="member@example.com",
            account_name="Member",
            role_name=None,
            tags=None,
            now=second.now(),
        )
    member = status.account_id
    assert member is not None
    creds = make_user(first, member)
    temporary = session_credentials(client, creds)
    for _ in range(2):  # warm: the account's open state is cached with the rest
        caller_identity(client, creds)
        assert decision(client, creds) == "Allow"
        assert decision(client, token=temporary.token) == "Allow"
    with request_statements() as seen:
        assert decision(client, creds) == "Allow"
    assert len(seen) == 1 and "FROM generations" in seen[0], seen

    with second.db.transaction() as tx:  # the other instance closes the member account
        handshakes.close_account(tx, management, member, second.now())
    body = json.dumps(QUERY)
    for headers in (
        sign("/v1/decisions", body, "application/json", "execute-api", creds),
        sign("/v1/decisions", body, "application/json", "execute-api", temporary),
        {"Content-Type": "application/json", "Authorization": f"Bearer {temporary.token}"},
    ):
        response = client.post("/v1/decisions", data=body, headers=headers, base_url=BASE_URL)
        assert (response.status_code, response.get_json()["error"]["code"]) == (401, "InvalidClientTokenId")
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    for signer in (creds, temporary):
        headers = sign("/", STS_BODY, content_type, "sts", signer)
        response = client.post("/", data=STS_BODY, headers=headers, base_url=BASE_URL)
        assert response.status_code == 403 and "<Code>InvalidClientTokenId</Code>" in response.get_data(as_text=True)
    # The management account, in the same organization, is not affected.
    assert decision(client, make_user(first)) == "Allow"


def test_a_remembered_token_still_expires_and_a_changed_one_is_verified_afresh(
    runtimes: tuple[Runtime, Runtime],
) -> None:
    runtime, _ = runtimes
    start = runtime.now()
    runtime.clock = lambda: start
    client = create_app(runtime=runtime).test_client()
    temporary = session_credentials(client, make_user(runtime))
    assert temporary.token is not None
    for _ in range(2):  # verified once, then remembered
        assert decision(client, token=temporary.token) == "Allow"
    body = json.dumps(QUERY)

    def bearer(token: str) -> tuple[int, str]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        response = client.post("/v1/decisions", data=body, headers=headers, base_url=BASE_URL)
        return response.status_code, str(response.get_json()["error"]["code"])

    # One character of the signature changed: another text, verified in full, refused.
    last = temporary.token[-2]
    tampered = temporary.token[:-2] + ("A" if last != "A" else "B") + temporary.token[-1]
    assert bearer(tampered) == (401, "InvalidClientTokenId")
    runtime.clock = lambda: start + dt.timedelta(days=2)  # GetSessionToken lasts 12 hours
    assert bearer(temporary.token) == (401, "ExpiredToken")


def test_a_request_whose_event_cannot_be_recorded_is_not_answered_as_if_it_were(
    runtimes: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _ = runtimes
    client = create_app(runtime=runtime).test_client()
    creds = make_user(runtime)

    def unavailable(_event: object) -> str:
        raise AuditWriteFailed()

    monkeypatch.setattr(runtime.audit_writer, "submit", unavailable)
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    headers = sign("/", STS_BODY, content_type, "sts", creds)
    response = client.post("/", data=STS_BODY, headers=headers, base_url=BASE_URL)
    assert response.status_code == 503 and "<Code>ServiceUnavailable</Code>" in response.get_data(as_text=True)
    denied = json.dumps({"action": "iam:DeleteUser", "resource": "*"})  # recorded: a denial
    headers = sign("/v1/decisions", denied, "application/json", "execute-api", creds)
    response = client.post("/v1/decisions", data=denied, headers=headers, base_url=BASE_URL)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "ServiceUnavailable"
    garbage = {"Content-Type": "application/json", "Authorization": "Bearer garbage"}
    response = client.post("/v1/decisions", data=denied, headers=garbage, base_url=BASE_URL)
    assert response.status_code == 503  # a refusal is recorded too, or not answered
    assert decision(client, creds) == "Allow"  # an Allow is not recorded by default: answered
