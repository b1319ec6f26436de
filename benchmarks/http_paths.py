"""What the broker's hot HTTP paths cost next to ``GET /healthz``, through a real ``broker serve``.

Starts ``broker serve`` as a subprocess on SQLite (default) or on a fresh PostgreSQL schema
(``--postgres``), bootstraps an administrator, creates a role through IAM and assumes it, then
drives four paths with closed-loop clients (one keep-alive ``http.client`` connection per client
thread; every request is signed when it is sent, none is replayed):

- ``GET /healthz`` (no I/O: the baseline);
- ``GetCallerIdentity`` signed with the administrator's IAM access key;
- ``GetCallerIdentity`` signed with the role session's temporary credentials;
- ``POST /v1/decisions`` with the session token as bearer.

The paths are interleaved in rounds (the order rotates each round), so drift on a shared machine
hits them alike; a path's ratio to ``/healthz`` is the median of its per-round ratios. Latency
percentiles pool every request of every round. CPU per request is read from /proc for the server
processes, for every PostgreSQL process ("db CPU"; 0 on SQLite, which runs inside the server) and
for this client process: a path can only look as fast as the client can sign. The worker
comparison also prints how busy the whole machine was: on a machine whose cores the client and
PostgreSQL share with the server, a second worker can only add what the cores have left.

At one client each round also times lone durable audit appends in this process, on the server's
own database and chain (the broker's ``AuditWriter``, one event at a time): a bare request plus
one such append, their times added, is the most an audited call such as GetCallerIdentity can
reach at one client, whatever the rest of its path costs (the "ceiling" line).

``--workers 1,2`` instead runs one server per worker count on the same PostgreSQL schema and
measures each path against both, interleaved, reporting the throughput ratio.

Run: ``.venv/bin/python benchmarks/http_paths.py [--postgres] [--rounds 5] [--seconds 1]``
and ``.venv/bin/python benchmarks/http_paths.py --workers 1,2``. Nothing asserts on time; the
targets are printed next to the numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from broker.crypto.sigv4 import authorization_header
from broker.services.audit import ANONYMOUS, AuditWriter, build_event
from broker.store import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.brokers import free_port, postgres_schema

REGION = "us-east-1"
CALLER_IDENTITY = b"Action=GetCallerIdentity&Version=2011-06-15"
DECISION = json.dumps({"action": "s3:GetObject", "resource": "arn:aws:s3:::reports/q3.pdf"}).encode()
TICKS = os.sysconf("SC_CLK_TCK")
# Targets: each path at least half of /healthz's rate, p99 at most five times p50, and two
# workers at least 1.6 times one.
TARGET_RATIO, TARGET_TAIL, TARGET_SCALING = 0.50, 5.0, 1.6


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class AppendProbe:
    """One durable audit append at a time, in this process, on the server's own database: what a
    GetCallerIdentity has to add to a bare request at one client, whatever else it costs.

    Each event is submitted alone and answered once its batch is durable, as a lone request's is
    (the writer is the broker's own, on the same chain as the server's)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.writer = AuditWriter(self.db)

    def rate(self, seconds: float) -> float:
        began = time.perf_counter()
        stop_at, count = began + seconds, 0
        while time.perf_counter() < stop_at:
            self.writer.submit(
                build_event(
                    event_name="GetCallerIdentity",
                    event_source="sts.amazonaws.com",
                    actor=ANONYMOUS,
                    now=dt.datetime.now(dt.UTC),
                    region=REGION,
                    source_ip="127.0.0.1",
                    user_agent="benchmark",
                    request_id=str(uuid.uuid4()),
                    read_only=True,
                )
            )
            count += 1
        return count / (time.perf_counter() - began)

    def close(self) -> None:
        self.writer.close()
        self.db.dispose()


# A request: (method, path, headers, body), built afresh for every send.
Request = tuple[str, str, dict[str, str], bytes]


def signed_caller_identity(host: str, credentials: Credentials) -> Callable[[], Request]:
    def build() -> Request:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Host": host,
            "X-Amz-Date": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
        }
        if credentials.session_token:
            headers["X-Amz-Security-Token"] = credentials.session_token
        headers["Authorization"] = authorization_header(
            "POST",
            "/",
            headers,
            CALLER_IDENTITY,
            access_key_id=credentials.access_key_id,
            secret_access_key=credentials.secret_access_key,
            region=REGION,
            service="sts",
        )
        return "POST", "/", headers, CALLER_IDENTITY

    return build


def paths(host: str, admin: Credentials, session: Credentials) -> dict[str, Callable[[], Request]]:
    assert session.session_token is not None
    bearer = {"Authorization": f"Bearer {session.session_token}", "Content-Type": "application/json"}
    return {
        "GET /healthz": lambda: ("GET", "/healthz", {}, b""),
        "GetCallerIdentity, IAM key": signed_caller_identity(host, admin),
        "GetCallerIdentity, session": signed_caller_identity(host, session),
        "POST /v1/decisions": lambda: ("POST", "/v1/decisions", dict(bearer), DECISION),
    }


# --- the servers ------------------------------------------------------------------------


def broker_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "broker.cli.main", *args]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    workers: int
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return [self.process.pid, *(process.pid for process in processes() if process.parent == self.process.pid)]

    def cpu_seconds(self) -> float:
        mine = set(self.pids())
        return sum(process.ticks for process in processes() if process.pid in mine) / TICKS


@dataclass(frozen=True)
class Process:
    """A process as /proc/PID/stat shows it: its name, its parent and the CPU ticks it used."""

    pid: int
    name: str
    parent: int
    ticks: int  # utime + stime


def processes() -> Iterator[Process]:
    """Every process on this machine (one that ends while it is read is left out)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            yield Process(int(entry.name), name, int(fields[1]), int(fields[11]) + int(fields[12]))


def database_cpu() -> dict[int, int]:
    """CPU ticks used so far by each PostgreSQL process on this machine (backends, WAL writer...)."""
    return {process.pid: process.ticks for process in processes() if process.name == "postgres"}


def database_cpu_since(before: dict[int, int]) -> float:
    """Seconds of CPU the PostgreSQL processes used since ``before`` (a process that ended since
    counts up to then; one that started counts whole)."""
    return sum(used - before.get(pid, 0) for pid, used in database_cpu().items()) / TICKS


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@contextmanager
def serving(env: dict[str, str], workdir: Path, workers: int, threads: int) -> Iterator[Server]:
    port = free_port()
    log = workdir / f"serve-{port}.log"
    command = broker_command("serve", "--port", str(port), "--workers", str(workers), "--threads", str(threads))
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    server = Server(process, port, workers, log)
    try:
        deadline = time.monotonic() + 120
        while len(server.pids()) < workers + 1 or not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"broker serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def prepare(env: dict[str, str], server: Server) -> tuple[Credentials, Credentials]:
    """The administrator's key and the credentials of a role session it assumed (both via the API)."""
    made = subprocess.run(broker_command("bootstrap-admin"), env=env, capture_output=True, text=True, check=True)
    key = json.loads(made.stdout)
    admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    account = key["AccountId"]
    options: dict[str, Any] = {
        "endpoint_url": f"http://{server.host}",
        "region_name": REGION,
        "aws_access_key_id": admin.access_key_id,
        "aws_secret_access_key": admin.secret_access_key,
    }
    iam, sts = boto3.client("iam", **options), boto3.client("sts", **options)
    trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
    role = iam.create_role(
        RoleName="BenchReader", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )["Role"]
    reads = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
    iam.put_role_policy(
        RoleName="BenchReader",
        PolicyName="reads",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [reads]}),
    )
    issued = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bench", DurationSeconds=3600)["Credentials"]
    return admin, Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])


# --- the load -----------------------------------------------------------------------------


@dataclass
class Sample:
    requests: int
    seconds: float
    latencies: list[float]  # seconds
    server_cpu: float
    client_cpu: float
    database_cpu: float
    machine_busy: float  # share of all cores' time that something ran, 0..1

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _client(host: str, build: Callable[[], Request], stop_at: float, latencies: list[float], errors: list[str]) -> None:
    name, _, port = host.partition(":")
    connection = http.client.HTTPConnection(name, int(port), timeout=30)
    clock = time.perf_counter
    try:
        while (start := clock()) < stop_at:
            method, path, headers, body = build()
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                errors.append(f"{method} {path}: {response.status} {payload[:300]!r}")
                return
            latencies.append(clock() - start)
    finally:
        connection.close()


def measure(server: Server, build: Callable[[], Request], clients: int, seconds: float) -> Sample:
    per_client: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    database_before, machine_before = database_cpu(), machine_jiffies()
    began = time.perf_counter()
    stop_at = began + seconds
    threads = [
        threading.Thread(target=_client, args=(server.host, build, stop_at, per_client[i], errors))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"request failed: {errors[0]}")
    latencies = [latency for one in per_client for latency in one]
    busy, total = (after - before for after, before in zip(machine_jiffies(), machine_before, strict=True))
    return Sample(
        len(latencies),
        elapsed,
        latencies,
        server.cpu_seconds() - cpu_before,
        time.process_time() - client_before,
        database_cpu_since(database_before),
        busy / max(total, 1),
    )


@dataclass
class PathResult:
    samples: list[Sample] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        pooled = sorted(latency for sample in self.samples for latency in sample.latencies)
        return pooled[min(len(pooled) - 1, int(q * len(pooled)))] if pooled else float("nan")

    def rate(self) -> float:
        return statistics.median(sample.rate for sample in self.samples)

    def per_request(self, what: str) -> float:
        requests = sum(sample.requests for sample in self.samples)
        return float(sum(getattr(sample, what) for sample in self.samples)) / max(requests, 1)


def rounds(
    server: Server,
    builders: dict[str, Callable[[], Request]],
    clients: int,
    count: int,
    seconds: float,
    probe: AppendProbe | None = None,
) -> tuple[dict[str, PathResult], list[float]]:
    """Each path's samples and ratios to the first (``/healthz``); with a ``probe``, also each
    round's ceiling: the rate of a bare request followed by one lone durable audit append (their
    times added), as a share of the bare request's rate."""
    results = {name: PathResult() for name in builders}
    names = list(builders)
    ceilings: list[float] = []
    for name in names:  # warm every path (caches, pools, connections) before counting
        measure(server, builders[name], clients, min(0.3, seconds))
    if probe is not None:
        probe.rate(min(0.3, seconds))
    for index in range(count):
        order = names[index % len(names) :] + names[: index % len(names)]
        samples = {name: measure(server, builders[name], clients, seconds) for name in order}
        baseline = samples[names[0]].rate
        for name, sample in samples.items():
            results[name].samples.append(sample)
            results[name].ratios.append(sample.rate / baseline)
        if probe is not None:
            appends = probe.rate(seconds)
            ceilings.append(appends / (baseline + appends))  # 1 / (1/baseline + 1/appends), over baseline
    return results, ceilings


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def report_paths(results: dict[str, PathResult], clients: int) -> None:
    print(
        f"  {'clients':>7}  {'path':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8}"
        f" {'vs healthz':>11} {'server CPU':>11} {'db CPU':>9} {'client CPU':>11}"
    )
    for index, (name, result) in enumerate(results.items()):
        p50, p99 = result.percentile(0.50), result.percentile(0.99)
        tail = p99 / p50
        ratio = statistics.median(result.ratios)
        ratio_text = "" if index == 0 else f"{ratio:5.2f}x {_verdict(ratio >= TARGET_RATIO):<4}"
        print(
            f"  {clients:>7}  {name:<28} {result.rate():8,.0f} {p50 * 1e3:8.2f} {p99 * 1e3:8.2f}"
            f" {tail:5.1f} {_verdict(tail <= TARGET_TAIL):<4}{ratio_text:>11}"
            f" {result.per_request('server_cpu') * 1e6:8,.0f} us {result.per_request('database_cpu') * 1e6:6,.0f} us"
            f" {result.per_request('client_cpu') * 1e6:8,.0f} us"
        )


def report_scaling(servers: list[Server], admin: Credentials, session: Credentials, args: argparse.Namespace) -> None:
    clients = max(args.clients)
    one, many = servers
    # The Host header is signed: each server gets requests built for its own address.
    builders = {server.port: paths(server.host, admin, session) for server in servers}
    print(
        f"{one.workers} vs {many.workers} workers x {args.threads} threads, PostgreSQL, {clients} clients, "
        f"{args.rounds} rounds x {args.seconds:g} s per path and server, interleaved"
    )
    print(
        f"  {'path':<28} {f'{one.workers} worker':>12} {f'{many.workers} workers':>12} {'ratio':>8}"
        f"  {'ceiling':>7}  {'machine busy':>13}  {'CPU per request: server + database + client':>44}"
    )
    for name in builders[one.port]:
        for server in servers:
            measure(server, builders[server.port][name], clients, 0.3)
        samples: tuple[list[Sample], list[Sample]] = ([], [])
        for index in range(args.rounds):
            pair = (one, many) if index % 2 == 0 else (many, one)
            for server in pair:
                samples[0 if server is one else 1].append(
                    measure(server, builders[server.port][name], clients, args.seconds)
                )
        rates = [[sample.rate for sample in side] for side in samples]
        ratio = statistics.median(b / a for a, b in zip(*rates, strict=True))
        busy = [statistics.median(sample.machine_busy for sample in side) for side in samples]
        costs = [_cpu_split(side) for side in samples]
        # Every core busy with this path at the CPU per request measured at the larger count.
        most = (os.cpu_count() or 1) / sum(_cpu_parts(samples[1]))
        ceiling = most / statistics.median(rates[0])
        print(
            f"  {name:<28} {statistics.median(rates[0]):9,.0f}/s {statistics.median(rates[1]):9,.0f}/s"
            f" {ratio:6.2f}x {_verdict(ratio >= TARGET_SCALING)}  {ceiling:6.2f}x"
            f"  {busy[0]:5.0%} / {busy[1]:4.0%}"
            f"  {costs[0]} | {costs[1]}"
        )
    print(f"  target: {many.workers} workers >= {TARGET_SCALING}x the throughput of {one.workers} (median of rounds)")
    print(
        f"  machine busy: share of this machine's {os.cpu_count()} cores in use while the path ran, "
        f"{one.workers} / {many.workers} worker(s); the client and PostgreSQL share the cores with the server"
    )
    print(
        f"  ceiling: the ratio if every core ran the path at the CPU per request (server + database + client) "
        f"measured with {many.workers} workers: what this machine allows, whatever the server does"
    )


def _cpu_split(samples: list[Sample]) -> str:
    parts = [part * 1e6 for part in _cpu_parts(samples)]
    return f"{parts[0]:5,.0f} + {parts[1]:4,.0f} + {parts[2]:4,.0f} us"


def _cpu_parts(samples: list[Sample]) -> list[float]:
    """Seconds of CPU per request of the server, the database and the client."""
    requests = max(sum(sample.requests for sample in samples), 1)
    return [float(sum(getattr(sample, what) for sample in samples)) / requests for what in _SPLIT]


_SPLIT = ("server_cpu", "database_cpu", "client_cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh schema on the local PostgreSQL")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per path per round")
    parser.add_argument("--clients", type=lambda v: [int(c) for c in v.split(",")], default=[1, 8])
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument(
        "--workers",
        type=lambda v: [int(c) for c in v.split(",")],
        default=[1],
        help="one count: serve with that many workers; two (1,2): compare them, on PostgreSQL",
    )
    args = parser.parse_args()
    compare = len(args.workers) == 2
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        postgres = args.postgres or compare
        url = stack.enter_context(postgres_schema()) if postgres else f"sqlite:///{workdir}/broker.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
        env.update(
            BROKER_DATABASE_URL=url,
            BROKER_CERTS_DIR=str(workdir / "certs"),
            BROKER_METADATA_DIR=str(workdir / "metadata"),
            BROKER_LOG_LEVEL="WARNING",
            # One client sends every request: budgets far above what it can send, so the limiter
            # is measured (leases) but never refuses. The access log stays off: one line per
            # request to a terminal is not what is measured.
            BROKER_RATE_LIMITS="aws=1000000/s:1000000,aws-principal=1000000/s:1000000,"
            "decisions=1000000/s:1000000,decisions-principal=1000000/s:1000000",
            BROKER_ACCESS_LOG="false",
        )
        subprocess.run(broker_command("init"), env=env, capture_output=True, check=True)
        servers = [stack.enter_context(serving(env, workdir, count, args.threads)) for count in args.workers]
        admin, session = prepare(env, servers[0])
        if compare:
            report_scaling(servers, admin, session, args)
            return
        server = servers[0]
        builders = paths(server.host, admin, session)
        database = "PostgreSQL" if postgres else "SQLite"
        print(
            f"HTTP paths through `broker serve` ({database}, {server.workers} worker(s) x {args.threads} threads), "
            f"{args.rounds} rounds x {args.seconds:g} s per path, interleaved; CPU is per request"
        )
        probe = AppendProbe(url)
        stack.callback(probe.close)
        for clients in args.clients:
            results, ceilings = rounds(
                server, builders, clients, args.rounds, args.seconds, probe if clients == 1 else None
            )
            report_paths(results, clients)
            if ceilings:
                print(
                    f"  ceiling at 1 client: /healthz plus one lone durable audit append (in this process, same "
                    f"database, same rounds) runs at {statistics.median(ceilings):.2f}x /healthz; an audited call "
                    "such as GetCallerIdentity does both in series, so it cannot do better"
                )
        print(
            f"  targets: every path >= {TARGET_RATIO:.2f}x /healthz's rate (median of per-round ratios), "
            f"p99 <= {TARGET_TAIL:g}x p50"
        )


if __name__ == "__main__":
    main()
