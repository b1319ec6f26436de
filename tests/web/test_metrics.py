"""GET /metrics: the counters move with the requests that should move them, the exposition
parses as Prometheus text, and only an internal address or the bearer token may read it.

In one process the metrics live in prometheus_client's default registry, shared by every test
of the run: each test reads a value before and after, and asserts the difference.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from broker.demo.setup import prepare_demo, seed_demo
from broker.services.runtime import Runtime
from broker.web.app import create_app
from broker.web.ops import internal_address
from tests.support.aws import UNCHECKED
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.demo_flow import csrf_token, demo_sign_in, element_text

TOKEN = "scrape-token-0123456789"
LATENCY_COUNT = "broker_http_request_duration_seconds_count"
AWS_POST = {"endpoint": "aws.endpoint", "method": "POST"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moved:
    """The change of each named sample between entering and leaving the block."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self._samples = samples
        self._before: list[float] = []
        self.by: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}

    def __enter__(self) -> Moved:
        self._before = [sample(name, **labels) for name, labels in self._samples]
        return self

    def __exit__(self, *_: object) -> None:
        for (name, labels), before in zip(self._samples, self._before, strict=True):
            self.by[(name, frozenset(labels.items()))] = sample(name, **labels) - before

    def __call__(self, name: str, **labels: str) -> float:
        return self.by[(name, frozenset(labels.items()))]


@pytest.fixture
def demo_broker(tmp_path: Path, keys_dir: Path, sqlite_url: str) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(
        tmp_path, keys_dir, sqlite_url, f"http://127.0.0.1:{port}", demo=True, rate_limit_enabled=False
    )
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    with LiveBroker(runtime, port) as live:
        yield live
    runtime.db.dispose()


def _signed_in_credentials(client: FlaskClient) -> tuple[str, dict[str, str]]:
    """Sign alice in through the demo IdP and take the first role offered: (role ARN, credentials)."""
    page = demo_sign_in(client, "alice", "alice-demo")
    assert page.status_code == 200 and 'id="role-form"' in page.text
    match = re.search(r'value="(arn:aws:iam::\d{12}:role/[^"]+)"', page.text)
    assert match is not None
    role_arn = match.group(1)
    issued = client.post(
        "/saml/roles", data={"role_arn": role_arn, "csrf_token": csrf_token(page.text)}, follow_redirects=True
    )
    assert issued.status_code == 200, issued.text
    fields = ("access-key-id", "secret-access-key", "session-token")
    return role_arn, {name: element_text(issued.text, name) for name in fields}


def test_sign_ins_credentials_sts_iam_and_decisions_are_counted(demo_broker: LiveBroker) -> None:
    client = demo_broker.app.test_client()
    with Moved(
        ("broker_sign_ins_total", {"outcome": "success", "reason": "none"}),
        ("broker_sign_ins_total", {"outcome": "refused", "reason": "MalformedMessage"}),
    ) as sign_ins:
        role_arn, credentials = _signed_in_credentials(client)
        refused = client.post("/saml/acs", data={"SAMLResponse": "not base64 XML"}, follow_redirects=True)
    assert refused.status_code == 403 and element_text(refused.text, "error-code") == "MalformedMessage"
    assert sign_ins("broker_sign_ins_total", outcome="success", reason="none") == 1
    assert sign_ins("broker_sign_ins_total", outcome="refused", reason="MalformedMessage") == 1
    assert sample("broker_credentials_issued_total", role=role_arn, source="saml") >= 1

    def aws(service: str) -> object:
        return boto3.client(
            service,
            endpoint_url=demo_broker.url,
            region_name="us-east-1",
            aws_access_key_id=credentials["access-key-id"],
            aws_secret_access_key=credentials["secret-access-key"],
            aws_session_token=credentials["session-token"],
            config=UNCHECKED,
        )

    with Moved(
        ("broker_aws_requests_total", {"action": "GetCallerIdentity", "error_code": "none"}),
        ("broker_aws_requests_total", {"action": "GetUser", "error_code": "NoSuchEntity"}),
        (LATENCY_COUNT, {**AWS_POST, "status": "2xx"}),
        (LATENCY_COUNT, {**AWS_POST, "status": "4xx"}),
    ) as calls:
        identity = aws("sts").get_caller_identity()  # type: ignore[attr-defined]
        with pytest.raises(ClientError) as failed:
            aws("iam").get_user(UserName="nobody-by-that-name")  # type: ignore[attr-defined]
    assert identity["Arn"] == f"arn:aws:sts::{identity['Account']}:assumed-role/{role_arn.rpartition('/')[2]}/alice"
    code = failed.value.response["Error"]["Code"]
    assert code == "NoSuchEntity"  # the demo's administrator role may read users: there is none
    assert calls("broker_aws_requests_total", action="GetCallerIdentity", error_code="none") == 1
    assert calls("broker_aws_requests_total", action="GetUser", error_code=code) == 1
    assert calls(LATENCY_COUNT, **AWS_POST, status="2xx") == 1
    assert calls(LATENCY_COUNT, **AWS_POST, status="4xx") == 1

    results = ("Allow", "ImplicitDeny", "ExplicitDeny")
    with Moved(*(("broker_decisions_total", {"result": result}) for result in results)) as decided:
        answered = client.post(
            "/v1/decisions",
            data=json.dumps({"requests": [{"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/a"}] * 3}),
            headers={"Authorization": f"Bearer {credentials['session-token']}", "Content-Type": "application/json"},
        )
    assert answered.status_code == 200, answered.text
    assert [result["decision"] for result in answered.get_json()["results"]] == ["Allow"] * 3
    counted = {result: decided("broker_decisions_total", result=result) for result in results}
    assert counted == {"Allow": 3, "ImplicitDeny": 0, "ExplicitDeny": 0}  # one per query of the batch


def test_throttled_requests_are_counted_by_bucket(tmp_path: Path, keys_dir: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, keys_dir, sqlite_url, "http://127.0.0.1:8000", rate_limits=("aws=1/h:1",))
    runtime = make_runtime(settings)
    client = create_app(runtime=runtime).test_client()
    with Moved(
        ("broker_rate_limit_refusals_total", {"bucket": "aws"}),
        ("broker_aws_requests_total", {"action": "unknown", "error_code": "Throttling"}),
        (LATENCY_COUNT, {**AWS_POST, "status": "4xx"}),
    ) as moved:
        first = client.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
        throttled = client.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    runtime.db.dispose()
    assert first.status_code != 429 and "Throttling" not in first.text
    assert throttled.status_code == 400 and "<Code>Throttling</Code>" in throttled.text
    assert moved("broker_rate_limit_refusals_total", bucket="aws") == 1
    assert moved("broker_aws_requests_total", action="unknown", error_code="Throttling") == 1
    assert moved(LATENCY_COUNT, **AWS_POST, status="4xx") == 2


@pytest.fixture
def app_runtime(tmp_path: Path, keys_dir: Path, sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, sqlite_url, "http://127.0.0.1:8000"))
    yield runtime
    runtime.db.dispose()


def test_the_exposition_parses_and_names_every_metric(app_runtime: Runtime) -> None:
    client = create_app(runtime=app_runtime).test_client()
    assert client.get("/healthz").status_code == 200
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.content_type.startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(scraped.text)}
    for name in (
        "broker_http_request_duration_seconds",
        "broker_aws_requests",
        "broker_sign_ins",
        "broker_credentials_issued",
        "broker_decisions",
        "broker_rate_limit_refusals",
        "broker_audit_queue_depth",
        "broker_audit_commit_duration_seconds",
    ):
        assert name in families, name
    healthz = [
        s
        for s in families["broker_http_request_duration_seconds"].samples
        if s.name.endswith("_count") and s.labels == {"endpoint": "pages.health", "method": "GET", "status": "2xx"}
    ]
    assert len(healthz) == 1 and healthz[0].value >= 1


def test_the_audit_writer_reports_its_commits(app_runtime: Runtime) -> None:
    client = create_app(runtime=app_runtime).test_client()
    before = sample("broker_audit_commit_duration_seconds_count", path="batch")
    # A refusal changes nothing but the trail: its event goes through the group-commit writer.
    assert client.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}).status_code == 403
    after = sample("broker_audit_commit_duration_seconds_count", path="batch")
    assert after > before
    assert sample("broker_audit_queue_depth") >= 0


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.2.3.4", True),
        ("172.16.0.9", True),
        ("192.168.1.1", True),
        ("fd00::1", True),
        ("192.0.2.1", False),
        ("100.64.0.1", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", True),
        ("203.0.113.7", False),
        ("8.8.8.8", False),
        ("2001:4860::8888", False),
        ("::ffff:8.8.8.8", False),
        ("", False),
        ("not an address", False),
    ],
)
def test_internal_addresses(address: str, internal: bool) -> None:
    assert internal_address(address) is internal


def test_an_external_address_is_refused_as_if_there_were_no_such_page(app_runtime: Runtime) -> None:
    client = create_app(runtime=app_runtime).test_client()
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    refused = client.get("/metrics", environ_base=outside)
    assert refused.status_code == 404
    assert "broker_" not in refused.text
    assert refused.text == client.get("/no-such-page", environ_base=outside).text
    # A forged X-Forwarded-For changes nothing without trusted proxies.
    forged = client.get("/metrics", environ_base=outside, headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 200


def test_with_a_token_only_the_token_may_scrape(tmp_path: Path, keys_dir: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, keys_dir, sqlite_url, "http://127.0.0.1:8000", metrics_token=TOKEN)
    runtime = make_runtime(settings)
    client = create_app(runtime=runtime).test_client()
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    try:
        assert client.get("/metrics", environ_base=outside).status_code == 404
        assert client.get("/metrics").status_code == 404  # loopback too: the token is the rule
        wrong = {"Authorization": f"Bearer {TOKEN}x"}
        assert client.get("/metrics", environ_base=outside, headers=wrong).status_code == 404
        basic = {"Authorization": f"Basic {TOKEN}"}
        assert client.get("/metrics", environ_base=outside, headers=basic).status_code == 404
        good = client.get("/metrics", environ_base=outside, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200 and "broker_http_request_duration_seconds" in good.text
    finally:
        runtime.db.dispose()


def test_metrics_can_be_turned_off(tmp_path: Path, keys_dir: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, keys_dir, sqlite_url, "http://127.0.0.1:8000", metrics_enabled=False)
    runtime = make_runtime(settings)
    try:
        assert create_app(runtime=runtime).test_client().get("/metrics").status_code == 404
    finally:
        runtime.db.dispose()


def test_scrapes_are_logged_at_debug_and_never_rate_limited(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    every_bucket = ("saml=1/h:1", "cli=1/h:1", "aws=1/h:1", "decisions=1/h:1")
    settings = make_settings(tmp_path, keys_dir, sqlite_url, "http://127.0.0.1:8000", rate_limits=every_bucket)
    runtime = make_runtime(settings)
    client = create_app(runtime=runtime).test_client()
    try:
        with caplog.at_level(logging.DEBUG, logger="broker.access"):
            statuses = {client.get("/metrics").status_code for _ in range(5)}
            assert client.get("/healthz").status_code == 200
        assert statuses == {200}
        levels = [(r.levelno, r.fields["path"]) for r in caplog.records if r.name == "broker.access"]  # type: ignore[attr-defined]
        assert levels == [(logging.DEBUG, "/metrics")] * 5 + [(logging.INFO, "/healthz")]
    finally:
        runtime.db.dispose()
