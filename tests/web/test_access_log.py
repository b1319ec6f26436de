"""One access-log line per request, its request id answered and audited; JSON log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from broker.logs import JsonFormatter
from broker.services.setup import bootstrap_admin
from broker.settings import SettingsError, load_settings
from broker.store.audit.events import records_named
from broker.web.app import create_app
from tests.support.aws import client
from tests.support.brokers import LiveBroker, make_runtime, make_settings


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The access log is the same on either database: conftest's live broker, on SQLite only."""
    return sqlite_url


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [record.fields for record in caplog.records if record.name == "broker.access"]  # type: ignore[attr-defined]


def test_each_request_is_one_line_with_its_caller_and_the_id_it_was_answered_and_audited_under(
    broker: LiveBroker, caplog: pytest.LogCaptureFixture
) -> None:
    admin = bootstrap_admin(broker.runtime)
    iam = client(broker, "iam", admin.access_key_id, admin.secret_access_key)
    answered: list[str] = []
    iam.meta.events.register(
        "after-call.iam.*", lambda http_response, **_: answered.append(http_response.headers["X-Request-Id"])
    )
    with caplog.at_level(logging.INFO, logger="broker.access"):
        iam.create_user(UserName="logged")
        with pytest.raises(ClientError):
            iam.get_user(UserName="nobody-by-this-name")
    created, missing = access_lines(caplog)
    assert created["action"] == "CreateUser" and created["status"] == 200
    assert created["principal"] == f"arn:aws:iam::{admin.account_id}:user/admin"
    assert created["method"] == "POST" and created["path"] == "/"
    assert isinstance(created["latencyMs"], float) and created["latencyMs"] >= 0
    assert created["sourceIp"] == "127.0.0.1"
    assert (missing["action"], missing["status"]) == ("GetUser", 404)
    # The same id in the response header, the access log and the audit event.
    assert answered[0] == created["requestId"]
    with broker.runtime.db.read() as tx:
        events = records_named(tx, "CreateUser")
    (event,) = [e for e in events if "logged" in json.dumps(e.get("requestParameters"))]
    assert event["requestID"] == created["requestId"]


def test_pages_are_logged_too(broker: LiveBroker, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="broker.access"):
        response = requests.get(f"{broker.url}/healthz", timeout=10)
    (line,) = access_lines(caplog)
    assert (line["path"], line["status"], line["action"], line["principal"]) == ("/healthz", 200, None, None)
    assert response.headers["X-Request-Id"] == line["requestId"]


def test_the_access_log_can_be_turned_off(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, keys_dir, sqlite_url, "http://127.0.0.1:8000", access_log=False)
    runtime = make_runtime(settings)
    try:
        with caplog.at_level(logging.INFO, logger="broker.access"):
            response = create_app(runtime=runtime).test_client().get("/healthz")
        assert response.status_code == 200 and response.headers["X-Request-Id"]
        assert access_lines(caplog) == []
    finally:
        runtime.db.dispose()


def test_json_lines_carry_the_fields() -> None:
    record = logging.LogRecord("broker.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.fields = {"requestId": "r-1", "status": 200}  # type: ignore[attr-defined]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x" and line["level"] == "INFO" and line["logger"] == "broker.access"
    assert (line["requestId"], line["status"]) == ("r-1", 200)
    assert line["time"].endswith("+00:00")


def test_log_format_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as refused:
        load_settings(None)
    assert "log_format: must be text or json, got 'xml'" in refused.value.problems
