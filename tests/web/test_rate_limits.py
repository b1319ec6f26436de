"""Rate limits on the wire: each surface's refusal shape (as botocore reads it), Retry-After, audit,
shared budgets across instances, the client address behind proxies, and the switch."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from sqlalchemy import select

from broker.iam import totp
from broker.services.runtime import Runtime
from broker.services.setup import bootstrap_admin
from broker.store import models
from broker.web.app import create_app
from tests.support.aws import NO_RETRIES, allow, client, document, user_with_key
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings, postgres_schema

# botocore retries Throttling (and in "standard" mode max_attempts=1 still allows one retry).


@contextmanager
def live(tmp_path: Path, keys_dir: Path, database_url: str, *limits: str, **overrides: object) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(
        tmp_path, keys_dir, database_url, f"http://127.0.0.1:{port}", rate_limits=limits, **overrides
    )
    with LiveBroker(make_runtime(settings), port) as broker:
        yield broker


def aws(broker: LiveBroker, service: str, key: str, secret: str, token: str | None = None) -> Any:
    return client(broker, service, key, secret, token, config=NO_RETRIES)


def refusal(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response


def events(runtime: Runtime, **where: str) -> list[dict[str, Any]]:
    with runtime.db.read() as tx:
        query = select(models.AuditEvent).order_by(models.AuditEvent.seq)
        for column, value in where.items():
            query = query.where(getattr(models.AuditEvent, column) == value)
        return [event.record for event in tx.scalars(query)]


def test_the_aws_endpoint_answers_throttling_per_address(tmp_path: Path, keys_dir: Path, database_url: str) -> None:
    with live(tmp_path, keys_dir, database_url, "aws=1/h:4") as broker:
        admin = bootstrap_admin(broker.runtime)
        sts = aws(broker, "sts", admin.access_key_id, admin.secret_access_key)
        for _ in range(4):
            sts.get_caller_identity()
        query = refusal(sts.get_caller_identity)
        assert query["Error"] == {"Type": "Sender", "Code": "Throttling", "Message": "Rate exceeded"}
        assert query["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert 3500 <= int(query["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) <= 3600
        # The JSON protocol, in its shape.
        orgs = aws(broker, "organizations", admin.access_key_id, admin.secret_access_key)
        as_json = refusal(orgs.describe_organization)
        assert as_json["Error"]["Code"] == "Throttling" and "retry-after" in as_json["ResponseMetadata"]["HTTPHeaders"]
        # Unsigned AssumeRoleWithSAML is throttled before anything reads the assertion.
        saml = refusal(
            sts.assume_role_with_saml,
            RoleArn="arn:aws:iam::123456789012:role/r",
            PrincipalArn="arn:aws:iam::123456789012:saml-provider/p",
            SAMLAssertion="x" * 8,
        )
        assert saml["Error"]["Code"] == "Throttling"
        # Three refusals, one event: the first of the interval, for the address.
        (event,) = events(broker.runtime, event_source="ratelimit.broker")
        assert (event["eventName"], event["errorCode"], event["sourceIPAddress"]) == (
            "RequestThrottled",
            "Throttling",
            "127.0.0.1",
        )
        assert event["requestParameters"] == {
            "bucket": "aws",
            "limitedBy": "clientAddress",
            "httpMethod": "POST",
            "path": "/",
        }
        assert event["additionalEventData"]["refusalsNotAudited"] == 0


def test_a_principal_over_its_budget_is_throttled_and_others_are_not(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    with live(tmp_path, keys_dir, database_url, "aws-principal=1/h:4") as broker:
        admin = bootstrap_admin(broker.runtime)
        iam = aws(broker, "iam", admin.access_key_id, admin.secret_access_key)
        key, secret = user_with_key(iam, "busy", policy=document(allow("iam:*")))  # 3 of the admin's 4
        busy = aws(broker, "iam", key, secret)
        for _ in range(4):
            busy.get_user()
        refused = refusal(busy.create_user, UserName="never-made")
        assert refused["Error"]["Code"] == "Throttling" and "retry-after" in refused["ResponseMetadata"]["HTTPHeaders"]
        assert refusal(busy.get_user)["Error"]["Code"] == "Throttling"
        assert iam.get_user()["User"]["UserName"]  # another principal keeps its own budget
        with broker.runtime.db.read() as tx:
            assert tx.scalar(select(models.User).where(models.User.name == "never-made")) is None
        # The throttled write was audited under its own name, with the bucket; the read after it
        # was only counted.
        (event,) = [e for e in events(broker.runtime, error_code="Throttling")]
        assert (event["eventName"], event["userIdentity"]["userName"]) == ("CreateUser", "busy")
        assert event["additionalEventData"]["rateLimitBucket"] == "aws-principal"


def test_the_decision_api_answers_429_per_address_and_per_principal(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    with live(tmp_path, keys_dir, database_url, "decisions-principal=1/h:2") as broker:
        admin = bootstrap_admin(broker.runtime)
        body = json.dumps({"action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"}).encode()

        def decide() -> requests.Response:
            url = f"{broker.url}/v1/decisions"
            request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
            SigV4Auth(Credentials(admin.access_key_id, admin.secret_access_key), "execute-api", "us-east-1").add_auth(
                request
            )
            return requests.post(url, data=body, headers=dict(request.headers.items()), timeout=10)

        assert [decide().status_code for _ in range(2)] == [200, 200]
        refused = decide()
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "Throttling"
        assert refused.json()["error"]["message"] == "Rate exceeded"
        (event,) = [e for e in events(broker.runtime, event_source="decisions.broker") if e.get("errorCode")]
        assert event["errorCode"] == "Throttling" and event["additionalEventData"]["rateLimitBucket"] == (
            "decisions-principal"
        )
    with live(tmp_path / "by-address", keys_dir, database_url, "decisions=1/h:1") as broker:
        assert requests.post(f"{broker.url}/v1/decisions", json={}, timeout=10).status_code == 401
        refused = requests.post(f"{broker.url}/v1/decisions", json={}, timeout=10)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
        assert refused.json()["error"]["code"] == "Throttling"


@pytest.fixture
def app_runtime(tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str) -> Iterator[Runtime]:
    settings = make_settings(
        tmp_path, keys_dir, sqlite_url, base_url, rate_limits=("cli=1/h:2", "saml=1/h:2"), trusted_proxy_hops=1
    )
    runtime = make_runtime(settings)
    yield runtime
    runtime.db.dispose()


def test_cli_endpoints_answer_slow_down_and_pages_a_429_page(app_runtime: Runtime) -> None:
    client = create_app(runtime=app_runtime).test_client()
    for _ in range(2):
        assert client.post("/cli/token", data={"grant_type": "x"}).status_code == 400
    slow = client.post("/cli/token", data={"grant_type": "x"})
    assert slow.status_code == 429 and slow.headers["Retry-After"] == "3600"
    assert slow.get_json()["error"] == "slow_down"
    page = client.get("/cli/authorize")
    assert page.status_code == 429 and "Too many requests" in page.text and page.headers["Retry-After"]


def test_the_acs_is_limited_per_address_and_metadata_is_not(app_runtime: Runtime) -> None:
    client = create_app(runtime=app_runtime).test_client()
    for _ in range(2):
        assert client.post("/saml/acs", data={"SAMLResponse": "x"}).status_code != 429
    flood = [client.post("/saml/acs", data={"SAMLResponse": "x"}) for _ in range(20)]
    assert {response.status_code for response in flood} == {429}
    assert all(response.headers["Retry-After"] for response in flood)
    assert "Throttling" in flood[0].text
    assert all(client.get("/saml/metadata").status_code == 200 for _ in range(5))
    # Twenty refusals, one audit event.
    (event,) = events(app_runtime, event_source="ratelimit.broker")
    assert event["requestParameters"]["path"] == "/saml/acs"


def test_the_address_is_the_one_the_trusted_proxy_saw(app_runtime: Runtime) -> None:
    # One trusted proxy: its X-Forwarded-For names the client, and each client has its own budget.
    client = create_app(runtime=app_runtime).test_client()
    for address in ("192.0.2.10", "192.0.2.11"):
        statuses = [client.get("/saml/login", headers={"X-Forwarded-For": address}).status_code for _ in range(3)]
        assert statuses[2] == 429 and 429 not in statuses[:2]
    # A client cannot escape its budget by naming other addresses before the proxy's entry.
    spoofed = client.get("/saml/login", headers={"X-Forwarded-For": "203.0.113.1, 192.0.2.10"})
    assert spoofed.status_code == 429


def test_without_trusted_proxies_forwarded_addresses_are_ignored(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str
) -> None:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, sqlite_url, base_url, rate_limits=("saml=1/h:1",)))
    client = create_app(runtime=runtime).test_client()
    statuses = [client.get("/saml/login", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(3)]
    assert statuses[1:] == [429, 429]
    runtime.db.dispose()


def test_an_ipv6_client_is_limited_as_its_network(
    tmp_path: Path, keys_dir: Path, database_url: str, base_url: str
) -> None:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url, rate_limits=("cli=1/h:3",)))
    client = create_app(runtime=runtime).test_client()

    def token_from(address: str) -> int:
        return client.post("/cli/token", data={"grant_type": "x"}, environ_base={"REMOTE_ADDR": address}).status_code

    # A client holds a whole /64 and may send each request from a fresh address in it.
    statuses = [token_from(f"2001:db8:1:2:{n:x}:{n:x}:{n:x}:{n + 1:x}") for n in range(12)]
    assert statuses[:3] == [400, 400, 400] and set(statuses[3:]) == {429}
    assert token_from("2001:db8:1:3::1") == 400  # the next /64 is someone else
    # An IPv4 client is one client whether the socket shows it as IPv4 or as IPv4-mapped IPv6.
    assert [token_from("198.51.100.7") for _ in range(3)] == [400, 400, 400]
    assert token_from("::ffff:198.51.100.7") == 429
    # One row per client, not per address it used.
    with runtime.db.read() as tx:
        keys = tx.scalars(select(models.RateLimitBucket.key).where(models.RateLimitBucket.bucket == "cli")).all()
    assert sorted(keys) == ["198.51.100.7", "2001:db8:1:2::/64", "2001:db8:1:3::/64"]
    runtime.db.dispose()


def test_a_disabled_limiter_never_refuses(tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str) -> None:
    settings = make_settings(
        tmp_path, keys_dir, sqlite_url, base_url, rate_limits=("saml=1/h:1", "cli=1/h:1"), rate_limit_enabled=False
    )
    runtime = make_runtime(settings)
    client = create_app(runtime=runtime).test_client()
    statuses = {client.post("/saml/acs", data={"SAMLResponse": "x"}).status_code for _ in range(10)}
    statuses |= {client.post("/cli/token", data={"grant_type": "x"}).status_code for _ in range(10)}
    assert 429 not in statuses
    assert events(runtime, event_source="ratelimit.broker") == []
    runtime.db.dispose()


def test_mfa_checks_are_limited_per_device_and_each_refusal_audited(
    tmp_path: Path, keys_dir: Path, database_url: str
) -> None:
    with live(tmp_path, keys_dir, database_url, "mfa=1/h:2") as broker:
        admin = bootstrap_admin(broker.runtime)
        iam = aws(broker, "iam", admin.access_key_id, admin.secret_access_key)
        key, secret = user_with_key(iam, "guesser", policy=document(allow("sts:*")))
        device = iam.create_virtual_mfa_device(VirtualMFADeviceName="guesser-phone")["VirtualMFADevice"]
        serial, seed = device["SerialNumber"], totp.seed_from_base32(device["Base32StringSeed"].decode("ascii"))
        now = time.time()
        codes = {"AuthenticationCode1": totp.totp(seed, now - 30), "AuthenticationCode2": totp.totp(seed, now)}
        iam.enable_mfa_device(UserName="guesser", SerialNumber=serial, **codes)
        sts = aws(broker, "sts", key, secret)
        wrong = next(
            f"{n:06d}"
            for n in range(0, 10**6, 7919)
            if f"{n:06d}" not in {totp.totp(seed, now + 30 * k) for k in range(-3, 4)}
        )
        for _ in range(2):
            assert (
                refusal(sts.get_session_token, SerialNumber=serial, TokenCode=wrong)["Error"]["Code"] == "AccessDenied"
            )
        for _ in range(2):  # even the right code: the device's budget is spent
            throttled = refusal(sts.get_session_token, SerialNumber=serial, TokenCode=totp.totp(seed, now + 30))
            assert throttled["Error"]["Code"] == "Throttling"
            assert "retry-after" in throttled["ResponseMetadata"]["HTTPHeaders"]
        audited = [
            e for e in events(broker.runtime, event_name="GetSessionToken") if e.get("errorCode") == "Throttling"
        ]
        assert len(audited) == 2, [
            (e["eventName"], e.get("errorMessage"), e.get("additionalEventData")) for e in audited
        ]
        assert audited[0]["additionalEventData"]["rateLimitBucket"] == "mfa"


@pytest.mark.postgres
def test_two_instances_on_one_postgresql_database_share_the_budget(tmp_path: Path, keys_dir: Path) -> None:
    with ExitStack() as stack:
        url = stack.enter_context(postgres_schema())
        first = stack.enter_context(live(tmp_path / "a", keys_dir, url, "aws=1/h:5"))
        second = stack.enter_context(live(tmp_path / "b", keys_dir, url, "aws=1/h:5"))
        admin = bootstrap_admin(first.runtime)
        clients = [aws(b, "sts", admin.access_key_id, admin.secret_access_key) for b in (first, second)]
        codes = []
        for i in range(12):
            try:
                clients[i % 2].get_caller_identity()
                codes.append("OK")
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
        assert codes == ["OK"] * 5 + ["Throttling"] * 7
