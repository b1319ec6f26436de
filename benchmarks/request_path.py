"""CPU per request through the WSGI app in process, with the generation stamp read on a pooled
driver connection (now) and through the read's ORM session (before), side by side.

The app is called directly with a prepared WSGI environ per path (signed once; a SigV4 signature
stays valid for minutes), so neither an HTTP server nor a client's signing is in the figures:

- ``GET /healthz`` (no I/O: the floor of a request through Flask and the broker's middleware);
- ``POST /v1/decisions`` signed with an IAM user's key (an Allow: not recorded by default);
- ``GetCallerIdentity`` signed with the same key (audited: the event is written by the audit
  group commit, led by the request's own thread when it is alone; the figure is the whole
  process's CPU time either way).

"before" empties the table of driver statements in ``broker.store.generations`` so the stamp goes
through the session, as it did before; nothing else differs. The two alternate in rounds; each
figure is the median over rounds. Rate limits are off (one client sends everything).

Run: ``.venv/bin/python benchmarks/request_path.py [--postgres] [--rounds 5] [--requests 500]``.
Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.test import EnvironBuilder

from broker.crypto.keys import ensure_keys
from broker.store import generations
from broker.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.services.test_hot_path import make_user
from tests.support.brokers import make_runtime, make_settings, postgres_schema

BASE_URL = "http://broker.test"
QUERY = json.dumps({"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf"})
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

Environ = Callable[[], dict[str, Any]]


def environ(
    path: str, body: str = "", content_type: str = "", service: str = "", creds: Credentials | None = None
) -> Environ:
    headers: dict[str, str] = {}
    if creds is not None:
        request = AWSRequest(method="POST", url=f"{BASE_URL}{path}", data=body, headers={"Content-Type": content_type})
        SigV4Auth(creds, service, "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    method = "POST" if creds is not None else "GET"
    prepared = EnvironBuilder(path=path, base_url=BASE_URL, method=method, data=body, headers=headers).get_environ()
    raw = body.encode()

    def make() -> dict[str, Any]:
        fresh = dict(prepared)
        fresh["wsgi.input"] = io.BytesIO(raw)
        return fresh

    return make


def call(app: Any, make: Environ) -> None:
    statuses: list[str] = []
    body = b"".join(app(make(), lambda status, _headers, _exc=None: statuses.append(status)))
    if not statuses[0].startswith("200"):
        raise AssertionError(f"{statuses[0]}: {body[:300]!r}")


@contextmanager
def stamp_through_session(enabled: bool) -> Iterator[None]:
    saved = dict(generations._DRIVER_READ)
    if enabled:
        generations._DRIVER_READ.clear()
    try:
        yield
    finally:
        generations._DRIVER_READ.update(saved)


def cpu_per_request(app: Any, make: Environ, count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        call(app, make)
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, ExitStack() as stack:
        keys = Path(workdir) / "keys"
        ensure_keys(keys, common_name="benchmark")
        url = stack.enter_context(postgres_schema()) if args.postgres else f"sqlite:///{workdir}/broker.db"
        settings = make_settings(Path(workdir), keys, url, BASE_URL, rate_limit_enabled=False)
        runtime = make_runtime(settings)
        app = create_app(runtime=runtime)
        creds = make_user(runtime)  # an IAM user allowed s3:GetObject, and its key
        paths = {
            "GET /healthz": environ("/healthz"),
            "decision, SigV4 (Allow)": environ("/v1/decisions", QUERY, "application/json", "execute-api", creds),
            "GetCallerIdentity (audited)": environ("/", STS_BODY, FORM, "sts", creds),
        }
        for make in paths.values():  # warm: caches, prepared statements
            for _ in range(100):
                call(app, make)
        figures: dict[tuple[str, bool], list[float]] = {(name, old): [] for name in paths for old in (True, False)}
        for round_number in range(args.rounds):
            order = (True, False) if round_number % 2 == 0 else (False, True)
            for old in order:
                with stamp_through_session(old):
                    for name, make in paths.items():
                        figures[(name, old)].append(cpu_per_request(app, make, args.requests))
        runtime.audit_writer.close()
        runtime.db.dispose()
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"CPU per request, in process, {database}, median of {args.rounds} rounds x {args.requests}")
    print(f"  {'path':<30} {'stamp via session':>18} {'stamp via driver':>17} {'ratio':>7}")
    for name in paths:
        before = statistics.median(figures[(name, True)])
        after = statistics.median(figures[(name, False)])
        print(f"  {name:<30} {before:15,.0f} us {after:14,.0f} us {before / after:6.2f}x")


if __name__ == "__main__":
    main()
