"""What the rate limiter costs a request: the same path with the limiter on and off, side by side.

The decision API (``POST /v1/decisions``, bearer session token) through the Flask app in process,
on SQLite and on PostgreSQL (the local test server, in a schema of its own): with the limiter on,
each request is charged to its address's bucket and to its principal's (from this process's
lease of tokens; one statement per lease).
Rounds alternate on and off in the same process; each round's per-request time is recorded and
the medians compared. The limiter's own check is timed alone as well (mostly served from the lease).

Run: ``.venv/bin/python benchmarks/rate_limit.py [--rounds 10] [--requests 200] [--sqlite-only]``.
Nothing asserts on time; the ratio is printed next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's tests.support

from broker.crypto.keys import ensure_keys
from broker.services.credentials import issue_role_credentials
from broker.services.iam import principals, roles
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.settings import Settings
from broker.web.app import create_app
from tests.support.brokers import postgres_schema

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
BODY = json.dumps({"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf"}).encode()


def _session_token(runtime: Runtime) -> str:
    account = runtime.settings.default_account_id
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    with runtime.db.transaction() as session:
        role = roles.create_role(
            session,
            account,
            name="Reader",
            trust_policy=json.dumps(trust),
            path=None,
            description=None,
            max_session_duration=None,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )
        principals.put_inline(session, "Role", account, "Reader", "inline", json.dumps(POLICY))
        credentials = issue_role_credentials(
            runtime, role, session_name="bench", duration_seconds=3600, auth_type="assumed-role"
        )
    return credentials.session_token


def _round(client: Any, token: str, requests: int) -> float:
    """Microseconds per decision over one round."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    start = time.perf_counter()
    for _ in range(requests):
        response = client.post("/v1/decisions", data=BODY, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    return (time.perf_counter() - start) / requests * 1e6


def _check_cost(runtime: Runtime, requests: int) -> float:
    """Microseconds per limiter check alone (one statement), on a key of its own."""
    start = time.perf_counter()
    for _ in range(requests):
        runtime.rate_limiter.check("decisions", "192.0.2.99")
    return (time.perf_counter() - start) / requests * 1e6


def _measure(name: str, database_url: str, workdir: Path, rounds: int, requests: int) -> None:
    settings = Settings(
        base_url="http://127.0.0.1:9",
        database_url=database_url,
        certs_dir=str(workdir / "certs"),
        metadata_dir=str(workdir / "metadata"),
        # Budgets no benchmark reaches: every request is charged and admitted.
        rate_limits=("decisions=100000/s:1000000", "decisions-principal=100000/s:1000000"),
    )
    runtime = Runtime.from_settings(settings)
    initialise(runtime)
    token = _session_token(runtime)
    client = create_app(runtime=runtime).test_client()
    limiter = runtime.rate_limiter
    on: list[float] = []
    off: list[float] = []
    for enabled in (True, False):  # warm both paths
        limiter.enabled = enabled
        _round(client, token, requests // 4)
    for _ in range(rounds):
        for enabled, times in ((True, on), (False, off)):
            limiter.enabled = enabled
            times.append(_round(client, token, requests))
    limiter.enabled = True
    check = statistics.median(_check_cost(runtime, requests) for _ in range(rounds))
    on_median, off_median = statistics.median(on), statistics.median(off)
    print(f"decision API, bearer token, Flask in process, {name}: {rounds} rounds of {requests}, medians")
    print(f"   limiter off                 {off_median:9.0f} us/request")
    print(f"   limiter on (2 checks)       {on_median:9.0f} us/request   (+{on_median - off_median:.0f} us)")
    print(f"   ratio on/off                {on_median / off_median:9.2f}x")
    print(f"   one check alone             {check:9.0f} us")
    runtime.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        workdir = Path(directory)
        ensure_keys(workdir / "certs", common_name="benchmark")
        _measure("SQLite", f"sqlite:///{workdir}/broker.db", workdir, args.rounds, args.requests)
        if not args.sqlite_only:
            url = stack.enter_context(postgres_schema())
            _measure("PostgreSQL", url, workdir, args.rounds, args.requests)


if __name__ == "__main__":
    main()
