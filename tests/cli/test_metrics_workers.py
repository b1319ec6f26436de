"""GET /metrics under `broker serve --workers 2`: one scrape, whichever worker answers it, adds
up what every worker counted. Which worker served a request is read from the operating system
(see tests/cli/test_serve_workers.py), not from anything the broker exposes."""

from __future__ import annotations

import http.client
import os
import signal
import tempfile
from pathlib import Path

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.test_serve_workers import _served_by, _workers, admin_env
from tests.support.aws import UNCHECKED
from tests.support.served import Served, serving

__all__ = ["admin_env"]  # the fixture, used by name

HEALTH = {"endpoint": "pages.health", "method": "GET", "status": "2xx"}


def _scrape(served: Served) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200, body
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def _value(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def test_a_scrape_adds_up_every_workers_counts(
    tmp_path: Path, admin_env: tuple[dict[str, str], dict[str, str], int]
) -> None:
    env, admin, port = admin_env
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_999999.db").write_bytes(b"left by an earlier run, and not a metrics file")
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    with serving(env, port, tmp_path / "serve.log", "--workers", "2") as served:
        workers = _workers(served, 2)
        before = _scrape(served)

        rounds, serving_pids = 0, set[int]()
        while serving_pids != workers and rounds < 20:
            serving_pids |= _served_by(served, workers)  # 16 requests to /healthz
            rounds += 1
        assert serving_pids == workers  # both workers answered some of them
        sts = boto3.client(
            "sts",
            endpoint_url=served.url,
            region_name="us-east-1",
            aws_access_key_id=admin["AccessKeyId"],
            aws_secret_access_key=admin["SecretAccessKey"],
            config=UNCHECKED,
        )
        for _ in range(3):
            sts.get_caller_identity()

        after = _scrape(served)
        count = "broker_http_request_duration_seconds_count"
        assert _value(after, count, **HEALTH) - _value(before, count, **HEALTH) == 16 * rounds
        calls = "broker_aws_requests_total"
        identity = {"action": "GetCallerIdentity", "error_code": "none"}
        assert _value(after, calls, **identity) - _value(before, calls, **identity) == 3
        # Each worker counted in its own file; the stale file was cleared at start.
        assert "counter_999999.db" not in {path.name for path in shared.iterdir()}
        assert {f"histogram_{pid}.db" for pid in workers} <= {path.name for path in shared.iterdir()}
        assert _value(after, "broker_audit_queue_depth") == 0

        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0, served.stderr()
    # The arbiter dropped the stopped workers' gauges; their counts stay for the next run's start.
    left = {path.name for path in shared.iterdir()}
    assert not {f"gauge_livesum_{pid}.db" for pid in workers} & left
    assert "Traceback" not in served.stderr()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_configured_directory_the_server_makes_one_and_removes_it(
    tmp_path: Path, admin_env: tuple[dict[str, str], dict[str, str], int]
) -> None:
    env, _, port = admin_env
    env = {name: value for name, value in env.items() if name != "PROMETHEUS_MULTIPROC_DIR"}
    with serving(env, port, tmp_path / "serve.log", "--workers", "2") as served:
        workers = _workers(served, 2)
        _served_by(served, workers)
        (made,) = _metrics_dirs(served.process.pid)
        assert {f"histogram_{pid}.db" for pid in workers} & {path.name for path in made.iterdir()}
        assert _scrape(served)
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0, served.stderr()
    assert not made.exists()
    assert _metrics_dirs(served.process.pid) == []


def _metrics_dirs(arbiter: int) -> list[Path]:
    shm = Path("/dev/shm")
    parent = shm if os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return sorted(parent.glob(f"broker-metrics-{arbiter}-*"))
