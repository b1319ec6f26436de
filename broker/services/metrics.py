"""The broker's Prometheus metrics: every metric object lives here, and only here.

Callers record through the functions below (``count_sign_in``, ``observe_request``...), never
through the metric objects, so the set can be rebuilt when ``broker serve`` switches to
multi-process mode. Every label takes its values from a bounded set: Flask endpoint names,
AWS action names from the operation registry, error codes from the error tables, rate-limit
bucket names, decision effects, credential sources, and role ARNs capped per process (roles
are made by administrators, not by callers, but a process never tracks more than
:data:`MAX_ROLE_LABELS` of them; the rest count as ``other``).

One process (tests, the Flask test client, ``broker serve`` with a single process before it
forks) counts in memory and is read through prometheus_client's default registry. Under
``broker serve`` the arbiter calls :func:`share_between_workers` before the workers fork: each
worker then writes its counts to memory-mapped files in a directory of their own, and a scrape,
whichever worker answers it, adds up the files of every worker, live or gone (gauges only over
the live ones; the arbiter forgets a worker's gauges when it exits, :func:`forget_worker`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

# prometheus_client reads this variable; it must name the directory in every worker.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
# Role ARNs one process labels credentials with; further roles are counted as "other".
MAX_ROLE_LABELS: Final = 500
OTHER: Final = "other"
NONE: Final = "none"
# Request latency buckets, seconds: a warm SigV4 call answers in about a millisecond.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# An error code as the error tables spell them; anything else is not a label value.
_CODE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


class _Metrics:
    """The metric objects, made against ``registry`` (None: unregistered, read from files)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Histogram(
            "broker_http_request_duration_seconds",
            "Time to answer an HTTP request, by Flask endpoint, method and status class.",
            ("endpoint", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.aws_calls = Counter(
            "broker_aws_requests",
            "STS, IAM, Organizations and CloudTrail calls on the AWS endpoint, by action and error code.",
            ("action", "error_code"),
            registry=registry,
        )
        self.sign_ins = Counter(
            "broker_sign_ins",
            "SAML sign-ins (ConsoleLogin), by outcome and the refusal's error code.",
            ("outcome", "reason"),
            registry=registry,
        )
        self.credentials = Counter(
            "broker_credentials_issued",
            "Temporary credentials issued, by role ARN and how the session began.",
            ("role", "source"),
            registry=registry,
        )
        self.decisions = Counter(
            "broker_decisions",
            "Queries answered by the decision API, by result.",
            ("result",),
            registry=registry,
        )
        self.throttled = Counter(
            "broker_rate_limit_refusals",
            "Requests refused by a rate limit, by bucket.",
            ("bucket",),
            registry=registry,
        )
        self.audit_queue = Gauge(
            "broker_audit_queue_depth",
            "Audit events waiting for the group-commit writer.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.audit_commits = Histogram(
            "broker_audit_commit_duration_seconds",
            "Time to write one batch of audit events through the group-commit writer.",
            ("path",),
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )


_metrics = _Metrics(REGISTRY)
# The directory the workers' files are in, when several processes share the counts.
_shared_dir: str | None = os.environ.get(MULTIPROC_ENV) if values.ValueClass is not values.MutexValue else None
_roles: set[str] = set()
_roles_lock = threading.Lock()


def _code(code: str | None) -> str:
    if not code:
        return NONE
    return code if _CODE.fullmatch(code) else OTHER


# Recording ------------------------------------------------------------------------------


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered HTTP request (``endpoint`` None: no route matched)."""
    _metrics.requests.labels(
        endpoint or "unmatched", method if method in _METHODS else OTHER, f"{status // 100}xx"
    ).observe(seconds)


def count_aws_call(action: str | None, error_code: str | None) -> None:
    """One call on the AWS endpoint (``action`` None: it named no known operation)."""
    _metrics.aws_calls.labels(_code(action) if action else "unknown", _code(error_code)).inc()


def count_sign_in(refusal_code: str | None = None) -> None:
    """One sign-in: accepted (no code) or refused with the error's code."""
    if refusal_code is None:
        _metrics.sign_ins.labels("success", NONE).inc()
    else:
        _metrics.sign_ins.labels("refused", _code(refusal_code)).inc()


def count_credentials(role_arn: str | None, source: str) -> None:
    """Temporary credentials issued for ``role_arn`` (None: an IAM user's session token)."""
    role = role_arn or NONE
    if role_arn:
        with _roles_lock:
            if role_arn not in _roles:
                if len(_roles) >= MAX_ROLE_LABELS:
                    role = OTHER
                else:
                    _roles.add(role_arn)
    _metrics.credentials.labels(role, _code(source)).inc()


def count_decisions(results: Iterable[str]) -> None:
    """The decision API answered queries with these results (``Allow``, ``ExplicitDeny``...)."""
    for result in results:
        _metrics.decisions.labels(result).inc()


def count_throttled(bucket: str) -> None:
    _metrics.throttled.labels(_code(bucket)).inc()


def audit_queued(change: int) -> None:
    """Events added to (positive) or taken from (negative) a group-commit writer's queue."""
    _metrics.audit_queue.inc(change)


def observe_audit_commit(path: str, seconds: float) -> None:
    """One group-commit batch written (``path`` is ``batch``; the label stays for dashboards)."""
    _metrics.audit_commits.labels(path).observe(seconds)


# Exposition -----------------------------------------------------------------------------


def exposition() -> bytes:
    """Every metric in the Prometheus text format: this process's, or every worker's."""
    if _shared_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=_shared_dir)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


@dataclass(frozen=True)
class MetadataGauge:
    """One URL-fetched provider's refresh state, as the metadata gauges report it."""

    provider_arn: str
    age_seconds: float  # since the last successful fetch; -1 before the first
    failing: bool
    expired: bool


class _MetadataCollector:
    def __init__(self, states: Iterable[MetadataGauge]) -> None:
        self.states = list(states)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            "broker_saml_metadata_age_seconds",
            "Seconds since a URL-fetched provider's metadata was last fetched (-1: never).",
            labels=("provider",),
        )
        failing = GaugeMetricFamily(
            "broker_saml_metadata_refresh_failing",
            "1 while the last fetch of a provider's metadata failed (the last good metadata stays in use).",
            labels=("provider",),
        )
        expired = GaugeMetricFamily(
            "broker_saml_metadata_expired",
            "1 once a provider's metadata is past its validUntil (sign-ins through it are refused).",
            labels=("provider",),
        )
        for state in self.states:
            age.add_metric((state.provider_arn,), state.age_seconds)
            failing.add_metric((state.provider_arn,), float(state.failing))
            expired.add_metric((state.provider_arn,), float(state.expired))
        yield from (age, failing, expired)


def metadata_exposition(states: Iterable[MetadataGauge]) -> bytes:
    """The metadata refresh gauges, from states read when scraped (gauges of the moment, not
    counters: every worker would report the same, so they are not kept in the shared files)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_MetadataCollector(states))
    return generate_latest(registry)


# Several worker processes -----------------------------------------------------------------


@contextlib.contextmanager
def share_between_workers() -> Iterator[str]:
    """In ``broker serve``'s arbiter, before any worker forks: count in files from here on.

    The directory is ``$PROMETHEUS_MULTIPROC_DIR`` when set (its ``*.db`` files, left by an
    earlier run, are removed), else a new one, ``broker-metrics-<arbiter pid>-*`` in memory-backed
    ``/dev/shm`` where possible, removed when the arbiter leaves the block. Yields the directory.
    """
    global _metrics, _shared_dir
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        directory = given
    else:
        shm = "/dev/shm"  # noqa: S108  # memory-backed: the workers write it on every request
        directory = tempfile.mkdtemp(
            prefix=f"broker-metrics-{os.getpid()}-", dir=shm if os.access(shm, os.W_OK) else None
        )
        os.environ[MULTIPROC_ENV] = directory
    owner, before = os.getpid(), (values.ValueClass, _metrics, _shared_dir)
    # prometheus_client picks its value class when it is imported, which was before this call:
    # pick again, then make the metrics afresh with it (unregistered: a scrape reads the files).
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _metrics, _shared_dir = _Metrics(None), directory
    try:
        yield directory
    finally:
        # Only the arbiter cleans up (a worker never leaves the block the normal way).
        if os.getpid() == owner:
            values.ValueClass, _metrics, _shared_dir = before
            if not given:
                os.environ.pop(MULTIPROC_ENV, None)
                shutil.rmtree(directory, ignore_errors=True)


def forget_worker(pid: int) -> None:
    """In the arbiter, once worker ``pid`` exited: drop its gauges (its counts stay summed)."""
    if _shared_dir is not None:
        mark_process_dead(pid, _shared_dir)  # type: ignore[no-untyped-call]
